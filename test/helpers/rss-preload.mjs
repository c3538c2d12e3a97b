// Preloaded into CLI processes the abuse tests spawn: writes the peak resident set (KiB) to
// $TINYPRUNE_RSS_FILE at exit, so a test can bound memory without an external `time` tool.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.TINYPRUNE_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS));
});
