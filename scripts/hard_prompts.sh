#!/usr/bin/env bash
# Best hard prompt for docs/seeds.md: ranks the task's templates 0-shot on the validation split
# (`rank-templates`, which flatters them: chosen on the reported split), then gives the best one
# 4 balanced demonstrations from train (`eval --shots 0,4`). Appends to docs/seeds_hard.jsonl.
#   scripts/hard_prompts.sh TASK_DIR TEMPLATES_FILE
set -euo pipefail
dir=$1; templates=$2; task=$(basename "$dir")
model=${MODEL:-../shared/models/stories260K}
verb=$(node -e "console.log(JSON.stringify(JSON.parse(require('fs').readFileSync('$dir/task.json','utf8')).verbalizer))")
mkdir -p .tmp/hard
nice -n 5 node ${BIN:-bin/softprompt.js} rank-templates --model "$model" --data "$dir/validation.jsonl" --templates "$templates" --verbalizer "$verb" --json > .tmp/hard/$task.rank.json
best=$(tail -1 .tmp/hard/$task.rank.json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);const r=(j.results??j.ranking)[0];console.log(r.template)})")
nice -n 5 node ${BIN:-bin/softprompt.js} eval --model "$model" --data "$dir/validation.jsonl" --template "$best" --verbalizer "$verb" \
  --shots 0,4 --demos-from "$dir/train.jsonl" --demo-selection balanced --json > .tmp/hard/$task.eval.json
tail -1 .tmp/hard/$task.eval.json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);const runs=j.runs??[j];console.log(JSON.stringify({task:'$task',template:process.argv[1],shots:runs.map(r=>[r.shots,Math.round(r.accuracy*10000)/100])}))})" "$best" | tee -a docs/seeds_hard.jsonl
