/** The command table. */
import { serve } from './serve.js';
import { token } from './token.js';

export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the server (configuration flags: --port, --host, --data-dir, --config, --<key> value)', run: serve },
  token: { summary: 'mint a JWT: --sub ID [--name N] [--roles a,b] [--ttl 15m]', run: token },
};
