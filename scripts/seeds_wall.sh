#!/usr/bin/env bash
# docs/seeds.md "Wall time": the whole `softprompt train` process at seed 0, plain runs (--restarts 1)
# alternated with the restart recipes, one at a time (run it on a quiet machine). Appends
# {task, run, wall_s, trainer_s, cpu_s, flags} to docs/seeds_wall.jsonl.
#   scripts/seeds_wall.sh        (needs .tmp/tasks/story_gender: task.json plus links to ../shared's files)
set -euo pipefail
out=.tmp/wall; mkdir -p $out
if [ ! -f .tmp/tasks/story_gender/task.json ]; then
  mkdir -p .tmp/tasks/story_gender
  ln -sf "$PWD/../shared/datasets/story_gender/train.jsonl" "$PWD/../shared/datasets/story_gender/validation.jsonl" .tmp/tasks/story_gender/
  printf '%s\n' '{"template":"{text}\\nThe story is about a","verbalizer":{"girl":" girl","boy":" boy"}}' > .tmp/tasks/story_gender/task.json
fi
run() { # task_dir name flags...
  local dir=$1 name=$2; shift 2
  local task=$(basename $dir)
  local tpl=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$dir/task.json','utf8')).template)")
  local verb=$(node -e "console.log(JSON.stringify(JSON.parse(require('fs').readFileSync('$dir/task.json','utf8')).verbalizer))")
  rm -rf $out/run
  local t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o $out/cpu node bin/softprompt.js train --model ../shared/models/stories260K --train $dir/train.jsonl --template "$tpl" --verbalizer "$verb" --epochs 3 --seed 0 "$@" --out $out/run > $out/log 2>&1
  local t1=$(date +%s.%N)
  local trainer=$(grep -E '^time' $out/log | awk '{print $2}')
  local cpu=$(tail -1 $out/cpu | awk '{print $1 + $2}')
  node -e "console.log(JSON.stringify({task:'$task',run:'$name',wall_s:Math.round(($t1-$t0)*10)/10,trainer_s:Number('$trainer'),cpu_s:$cpu,flags:process.argv.slice(1).join(' ')}))" -- "$@" | tee -a docs/seeds_wall.jsonl
}
# The fifth study's round (today's default: wsd, restarts scored only at their pause); earlier
# rounds' runs (prev-default-bs16, batch 4) stay in the jsonl. plain-bs16 is the stand-in's own
# shape (PEFT's batch and constant rate), plain-bs8 a single run of today's defaults.
for round in 1 2; do
  run .tmp/tasks/story_gender plain-bs16 --restarts 1 --batch-size 16 --schedule constant
  run .tmp/tasks/story_gender plain-bs8 --restarts 1
  run .tmp/tasks/story_gender default-wsd
done
for t in examples/tasks/story_count examples/tasks/story_animal; do
  run $t plain-bs16 --restarts 1 --batch-size 16 --schedule constant
  run $t plain-bs8 --restarts 1
  run $t default-wsd
done
