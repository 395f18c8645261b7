import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One AssumeRole call as the fake STS received it. */
export interface StsCall {
  roleArn: string | null;
  externalId: string | null;
  sessionName: string | null;
  durationSeconds: number | null;
  /** The access key id of the SigV4 credential scope (the platform's credentials), and whether the signature checked out. */
  signedBy: string | null;
  signatureValid: boolean;
  region: string | null;
}

/** What the fake answers instead of credentials: an STS error (its HTTP status, Code and Message). */
export interface StsRefusal { status: number; code: string; message: string }

export interface FakeSts {
  url: string;
  calls: StsCall[];
  /** Roles that may be assumed, with the external ID their trust policy requires. */
  roles: Map<string, string>;
  /** When set, every call is refused with it (throttling, an outage). */
  refuseAll: StsRefusal | null;
  /** When set, answers wait for it (so concurrent requests pile up). */
  hold: Promise<void> | null;
  /** Credentials handed out, to search the database and the logs for. */
  issued: { accessKeyId: string; secretAccessKey: string; sessionToken: string }[];
  close(): Promise<void>;
}

/**
 * A local endpoint speaking STS's AssumeRole query protocol (form-encoded POST, XML
 * answer), for the real AWS SDK pointed at it: it checks the request's SigV4 signature
 * against the platform's credentials (`secrets`: access key id → secret), and answers
 * the documented AssumeRoleResponse, or an ErrorResponse (AccessDenied for a role it does
 * not know or a wrong external ID, or `refuseAll`). Expiration is `now()` plus the
 * requested duration.
 */
export async function startFakeSts(options: { secrets: Record<string, string>; now: () => Date }): Promise<FakeSts> {
  const fake: Omit<FakeSts, 'url' | 'close'> = { calls: [], roles: new Map(), refuseAll: null, hold: null, issued: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const form = new URLSearchParams(body);
        const { signedBy, signatureValid, region } = checkSignature(req, body, options.secrets);
        const call: StsCall = {
          roleArn: form.get('RoleArn'), externalId: form.get('ExternalId'), sessionName: form.get('RoleSessionName'),
          durationSeconds: form.has('DurationSeconds') ? Number(form.get('DurationSeconds')) : null, signedBy, signatureValid, region,
        };
        fake.calls.push(call);
        if (fake.hold) await fake.hold;
        const refusal = form.get('Action') !== 'AssumeRole' ? { status: 400, code: 'InvalidAction', message: 'Could not find operation' }
          : !signatureValid ? { status: 403, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided.' }
            : fake.refuseAll ?? (fake.roles.get(call.roleArn ?? '') !== call.externalId || call.externalId === null
              ? { status: 403, code: 'AccessDenied', message: `User: arn:aws:iam::111122223333:user/platform is not authorized to perform: sts:AssumeRole on resource: ${call.roleArn}` }
              : null);
        res.setHeader('content-type', 'text/xml');
        if (refusal) {
          res.statusCode = refusal.status;
          res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${refusal.code}</Code>` +
            `<Message>${refusal.message}</Message></Error><RequestId>${randomBytes(8).toString('hex')}</RequestId></ErrorResponse>`);
          return;
        }
        const issued = {
          accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
          secretAccessKey: `sts-secret-${randomBytes(16).toString('hex')}`,
          sessionToken: `sts-session-${randomBytes(24).toString('hex')}`,
        };
        fake.issued.push(issued);
        const expiration = new Date(options.now().getTime() + (call.durationSeconds ?? 3600) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        const roleName = call.roleArn!.split('/').pop();
        res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
          `<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/${roleName}/${call.sessionName}</Arn><AssumedRoleId>AROA123EXAMPLE:${call.sessionName}</AssumedRoleId></AssumedRoleUser>` +
          `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${issued.secretAccessKey}</SecretAccessKey>` +
          `<SessionToken>${issued.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
          `<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata></AssumeRoleResponse>`);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  });
}

/**
 * SigV4 as AWS documents it: the canonical request over the signed headers and the
 * payload's hash, the string to sign, the key derived from the secret for the date,
 * region and service; the signature must be the one the header carries.
 */
function checkSignature(req: IncomingMessage, body: string, secrets: Record<string, string>): { signedBy: string | null; signatureValid: boolean; region: string | null } {
  const header = req.headers.authorization ?? '';
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (!match) return { signedBy: null, signatureValid: false, region: null };
  const [, accessKeyId, date, region, signedHeaders, signature] = match as unknown as [string, string, string, string, string, string];
  const secret = secrets[accessKeyId];
  const amzDate = req.headers['x-amz-date'];
  if (!secret || typeof amzDate !== 'string' || !amzDate.startsWith(date)) return { signedBy: accessKeyId, signatureValid: false, region };
  const names = signedHeaders.split(';');
  const canonicalHeaders = names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const [path, query = ''] = (req.url ?? '/').split('?');
  const canonicalRequest = [req.method, path, query, canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/sts/aws4_request`, sha256(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${secret}`, date);
  for (const part of [region, 'sts', 'aws4_request']) key = hmac(key, part);
  return { signedBy: accessKeyId, signatureValid: names.includes('host') && hmac(key, stringToSign).toString('hex') === signature, region };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
