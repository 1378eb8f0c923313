// clapldm web page: plain JS, fetch + polling of the REST API. No build step.
"use strict";

const HELP = {
  generate: "Describe a sound; the model generates it from text.",
  transfer: "Upload a clip and describe the target: strength 1 ignores the input, small values stay close to it.",
  inpaint: "Upload a clip; the regions (START:END seconds) are regenerated from the prompt, the rest is kept.",
  superres: "Upload a band-limited clip; everything above the cutoff is regenerated, the band below is kept.",
  extend: "Upload a clip; it is continued to the total duration, window by window, as the prompt describes.",
  "audio-prompt": "Upload a clip; a new sound like it is generated. Text, if given, is mixed in: weight 1 is the clip alone, 0 the text alone.",
};
const BUTTON = {
  generate: "Generate", transfer: "Transfer", inpaint: "Inpaint", superres: "Upsample",
  extend: "Extend", "audio-prompt": "Generate",
};
const OPTIONAL_PROMPT = ["superres", "audio-prompt"];
const POLL_MS = 400;

const $ = (id) => document.getElementById(id);
let mode = "generate";
let currentJob = null;
let pollTimer = null;
let maxSeed = 2 ** 31 - 1;

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function setStatus(text, percent) {
  $("status-text").textContent = text;
  const bar = $("progress");
  bar.hidden = percent === null;
  if (percent !== null) bar.value = percent;
}

function setMode(next) {
  mode = next;
  for (const tab of document.querySelectorAll("#modes button")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  const isEdit = mode !== "generate";
  for (const el of document.querySelectorAll(".for-edit")) el.hidden = !isEdit;
  for (const name of Object.keys(HELP)) {
    for (const el of document.querySelectorAll(".for-" + name)) {
      el.hidden = !el.classList.contains("for-" + mode);
    }
  }
  $("audio-label").textContent = mode === "audio-prompt" ? "Audio prompt" : "Input audio";
  $("prompt").placeholder = OPTIONAL_PROMPT.includes(mode) ? "optional: describe the sound" : "a dog barking in the distance";
  $("mode-help").textContent = HELP[mode];
  $("generate").textContent = BUTTON[mode];
}

async function loadConfig() {
  try {
    const response = await fetch("/v1/config");
    const config = await response.json();
    $("model-name").textContent = `model ${config.model} · ${config.sample_rate} Hz · up to ${config.max_duration} s`;
    const sampler = $("sampler");
    for (const name of config.samplers) {
      const option = new Option(name, name, false, name === config.default_sampler);
      sampler.add(option);
    }
    $("steps").placeholder = String(config.default_steps);
    $("steps").max = String(config.max_steps);
    $("guidance").placeholder = String(config.default_guidance_scale);
    $("candidates").max = String(config.max_candidates);
    $("duration").max = String(config.max_duration);
    $("duration").value = String(Math.min(5, config.max_duration));
    $("cutoff").max = String(config.sample_rate / 2 - 1);
    maxSeed = Math.min(config.max_seed, 2 ** 31 - 1);
  } catch (err) {
    $("model-name").textContent = "server unreachable";
  }
}

// The request's parameters: only fields the user filled in (the server fills defaults).
function collectParams() {
  const params = { prompt: $("prompt").value };
  const optional = (id, key, parse) => {
    const raw = $(id).value.trim();
    if (raw !== "") params[key] = parse(raw);
  };
  optional("negative-prompt", "negative_prompt", (v) => v);
  optional("steps", "steps", Number);
  optional("guidance", "guidance_scale", Number);
  optional("candidates", "candidates", Number);
  optional("sampler", "sampler", (v) => v);
  optional("seed", "seed", Number);
  if (mode === "generate" || mode === "audio-prompt") optional("duration", "duration", Number);
  if (mode === "extend") {
    optional("total-duration", "total_duration", Number);
    optional("overlap", "overlap", Number);
  }
  if (mode === "audio-prompt") params.audio_prompt_weight = Number($("audio-weight").value);
  if (mode === "transfer") params.strength = Number($("strength").value);
  if (mode === "inpaint") params.regions = $("regions").value;
  if (mode === "superres") optional("cutoff", "cutoff_hz", Number);
  return params;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  const params = collectParams();
  let init;
  if (mode === "generate") {
    init = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(params) };
  } else {
    const file = $("audio-file").files[0];
    if (!file) {
      showError("choose an input audio file first");
      return;
    }
    const form = new FormData();
    form.append("audio", file, file.name);
    for (const [key, value] of Object.entries(params)) form.append(key, String(value));
    init = { method: "POST", body: form };
  }
  $("generate").disabled = true;
  setStatus("submitting…", 0);
  let response;
  try {
    response = await fetch("/v1/" + mode, init);
  } catch (err) {
    finish();
    setStatus("", null);
    showError("server unreachable");
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    finish();
    setStatus("", null);
    const retry = response.headers.get("Retry-After");
    showError((body.error || `request failed (${response.status})`) + (retry ? ` (retry in ${retry} s)` : ""));
    return;
  }
  currentJob = body.id;
  $("cancel").disabled = false;
  showStatus(body);
  poll();
}

function showStatus(job) {
  if (job.state === "queued") {
    const ahead = job.queue_position === null ? "" : ` (${job.queue_position} ahead)`;
    setStatus(`queued${ahead} · seed ${job.seed}`, 0);
  } else if (job.state === "running") {
    setStatus(`${job.cancel_requested ? "cancelling" : job.stage}… ${Math.round(job.progress)}% · seed ${job.seed}`, job.progress);
  }
}

async function poll() {
  clearTimeout(pollTimer);
  if (!currentJob) return;
  const id = currentJob;
  let job;
  try {
    const response = await fetch("/v1/jobs/" + id);
    job = await response.json();
    if (!response.ok) throw new Error(job.error || "status unavailable");
  } catch (err) {
    finish();
    showError(String(err.message || err));
    return;
  }
  if (id !== currentJob) return;
  if (job.state === "queued" || job.state === "running") {
    showStatus(job);
    pollTimer = setTimeout(poll, POLL_MS);
    return;
  }
  finish();
  if (job.state === "done") {
    setStatus(`done in ${(job.finished_at - job.started_at).toFixed(1)} s`, null);
    showResult(job.result);
  } else if (job.state === "failed") {
    setStatus("", null);
    showError(job.error || "the job failed");
  } else {
    setStatus("cancelled", null);
  }
}

function showResult(result) {
  $("result").hidden = false;
  const player = $("player");
  player.src = result.audio_url;
  player.load();
  const image = $("spectrogram");
  image.hidden = !result.spectrogram_url;
  if (result.spectrogram_url) image.src = result.spectrogram_url;
  $("used-seed").textContent = String(result.seed);
  $("score").textContent = result.score === null ? "" : `CLAP score ${result.score.toFixed(3)}`;
  const download = $("download");
  download.href = result.audio_url + "?download=1";
  download.setAttribute("download", "");  // the server names the file (mode, seed, format)
}

function finish() {
  currentJob = null;
  clearTimeout(pollTimer);
  $("generate").disabled = false;
  $("cancel").disabled = true;
}

async function cancel() {
  if (!currentJob) return;
  const id = currentJob;
  const response = await fetch("/v1/jobs/" + id, { method: "DELETE" });
  if (!response.ok && response.status !== 409) {
    const body = await response.json().catch(() => ({}));
    showError(body.error || "could not cancel");
  }
  poll();
}

function init() {
  for (const tab of document.querySelectorAll("#modes button")) {
    tab.addEventListener("click", () => setMode(tab.dataset.mode));
  }
  $("form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("random-seed").addEventListener("click", () => {
    $("seed").value = String(Math.floor(Math.random() * (maxSeed + 1)));
  });
  $("reuse-seed").addEventListener("click", () => {
    $("seed").value = $("used-seed").textContent;
  });
  const strength = $("strength");
  strength.addEventListener("input", () => {
    $("strength-value").textContent = Number(strength.value).toFixed(2);
  });
  const weight = $("audio-weight");
  weight.addEventListener("input", () => {
    $("audio-weight-value").textContent = Number(weight.value).toFixed(2);
  });
  setMode("generate");
  loadConfig();
}

document.addEventListener("DOMContentLoaded", init);
