import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('the process logger', () => {
  it('redacts secret-bearing fields wherever a logged object has them', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
    logger.info({
      password: 'p-1', mail: { to: 'a@b.c', text: 'token tgp_secret' }, req: { headers: { authorization: 'Bearer eyJ.secret', cookie: 's=1' } },
      err: { message: 'Failed query', params: ['hash'], cause: { params: ['hash-2'] } }, config: { smtpUrl: 'smtp://u:pw@h', auth: { secret: 'hs256-secret' } },
      created: { key: 'tg_secret', accessToken: 'eyJ.a.b', refreshToken: 'tgr_x' },
    }, 'everything');
    const line = JSON.parse(lines[0]!);
    expect(line.mail).toEqual({ to: 'a@b.c', text: '[redacted]' });
    expect(line.err).toMatchObject({ message: 'Failed query', params: '[redacted]', cause: { params: '[redacted]' } });
    for (const secret of ['p-1', 'tgp_secret', 'eyJ.secret', 's=1', 'hash', 'smtp://u:pw@h', 'hs256-secret', 'tg_secret', 'eyJ.a.b', 'tgr_x']) {
      expect(lines[0], secret).not.toContain(secret);
    }
  });
});
