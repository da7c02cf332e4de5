/**
 * Reading a password for `bulwark users create` and `reset-password`: the first line of standard
 * input (`--password-stdin`, for scripts), or asked twice on the terminal without echo. Never an
 * option: a password on the command line ends up in shell history and `ps`.
 */
import { CliError } from './context.js';

/** At most this much is read from standard input: a password is one short line. */
const MAX_INPUT = 4096;

export async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    let text = '';
    for await (const chunk of process.stdin) {
      text += String(chunk);
      if (text.length > MAX_INPUT || text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0]!;
  }
  if (!process.stdin.isTTY) throw new CliError('no terminal to ask for the password on: pass it with --password-stdin');
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (first !== again) throw new CliError('the passwords differ');
  return first;
}

function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new CliError('cancelled'));
          return;
        }
        value = ch === '\u007f' || ch === '\b' ? Array.from(value).slice(0, -1).join('') : value + ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
