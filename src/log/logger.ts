import { pino, destination as pinoDestination, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The one operational logger; modules take `logger.child({ module })`. Secrets are redacted by path. */
export function createLogger(level: LevelWithSilent = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'bootgate' },
      redact: { paths: ['*.password', '*.secret', '*.chapSecret', 'authorization'], censor: '[redacted]' },
    },
    destination ?? pinoDestination({ dest: 1, sync: false }),
  );
}
