// Child process for the lock test: takes the lock on argv[2], says so, and waits to be killed.
import { lockDir } from '../../src/io/lock.js';

lockDir(process.argv[2]!);
process.stdout.write('locked\n');
setInterval(() => undefined, 1000);
