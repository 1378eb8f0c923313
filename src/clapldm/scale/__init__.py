"""Generation at scale: a work file of many items, over processes, devices and nodes.

`clapldm generate --prompts FILE -o DIR` reads FILE (`jobs`), plans batches of the whole
file (`plan`), runs them on one process or through Lightning Fabric on many
(`runner`, `distributed`), writes each clip with a per-item record so a restart resumes
(`store`), shows progress over all ranks (`progress`) and writes DIR/manifest.jsonl.
"""
