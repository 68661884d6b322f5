# Fills docs/seeds.md's TABLES/TARGETS/WALL markers from scripts/seeds_table.ts's output (run from the repo root).
import subprocess, re
out = subprocess.run(['node', '--import', 'tsx', 'scripts/seeds_table.ts'], capture_output=True, text=True, check=True).stdout
tables, targets = out.split('\n| task |', 1)
targets = '| task |' + targets
doc = open('docs/seeds.md').read()
doc = re.sub(r'<!-- TABLES -->.*?<!-- /TABLES -->|TABLES', lambda m: '<!-- TABLES -->\n' + tables.strip() + '\n<!-- /TABLES -->', doc, count=1, flags=re.S)
doc = re.sub(r'<!-- TARGETS -->.*?<!-- /TARGETS -->|TARGETS', lambda m: '<!-- TARGETS -->\n' + targets.strip() + '\n<!-- /TARGETS -->', doc, count=1, flags=re.S)
open('docs/seeds.md', 'w').write(doc)
