#!/usr/bin/env bash
# Seed study (docs/seeds.md): trains with exactly --model --train --template --verbalizer --epochs 3
# --seed (plus a recipe's own flags), scores with `softprompt eval` on the validation split, and
# appends {task, recipe, seed, accuracy, train_s, cpu_s} to docs/seeds_results.jsonl (cpu_s: the
# training process's user + system CPU seconds, which a stopped or loaded machine does not inflate).
#   scripts/seeds.sh TASK_DIR RECIPE_NAME "SEEDS" [extra train flags...]
# TASK_DIR holds train.jsonl, validation.jsonl and task.json (template, verbalizer).
set -euo pipefail
dir=$1; recipe=$2; seeds=$3; shift 3
task=$(basename "$dir")
model=${MODEL:-../shared/models/stories260K}
tpl=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$dir/task.json','utf8')).template)")
verb=$(node -e "console.log(JSON.stringify(JSON.parse(require('fs').readFileSync('$dir/task.json','utf8')).verbalizer))")
for seed in $seeds; do
  out=.tmp/seeds/$task/$recipe/s$seed
  mkdir -p "$(dirname "$out")"
  # Several queues may share a job list: the first to claim a (task, recipe, seed) runs it.
  mkdir "$out.claim" 2>/dev/null || continue
  rm -rf "$out"
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$out.cpu" nice -n 5 node ${BIN:-bin/softprompt.js} train --model "$model" --train "$dir/train.jsonl" --template "$tpl" --verbalizer "$verb" \
    --epochs 3 --seed "$seed" "$@" --out "$out" > "$out.log" 2>&1 || { echo "train failed: $out.log"; tail -3 "$out.log"; continue; }
  t1=$(date +%s.%N)
  cpu=$(tail -1 "$out.cpu" | awk '{print $1 + $2}')
  acc=$(nice -n 5 node ${BIN:-bin/softprompt.js} eval --model "$model" --adapter "$out" --data "$dir/validation.jsonl" --json 2>/dev/null | tail -1 | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).accuracy))")
  line=$(node -e "console.log(JSON.stringify({task:'$task',recipe:'$recipe',seed:$seed,accuracy:Math.round($acc*10000)/100,train_s:Math.round(($t1-$t0)*10)/10,cpu_s:$cpu,flags:process.argv.slice(1).join(' ')}))" -- "$@")
  echo "$line" | tee -a docs/seeds_results.jsonl
done
