import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const webhooksErrors = {
  WEBHOOK_NOT_FOUND: { status: 404, message: 'Webhook endpoint not found.' },
  WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'Webhook delivery not found.' },
  WEBHOOK_URL_INVALID: { status: 400, message: 'The webhook URL must be an absolute http or https URL, without credentials, whose host resolves.' },
  WEBHOOK_URL_FORBIDDEN: { status: 400, message: 'The webhook URL reaches a private, loopback, link-local or reserved address, which the configuration does not allow.' },
  WEBHOOK_DISABLED: { status: 409, message: 'The webhook endpoint is disabled: nothing is sent to it.' },
  WEBHOOK_LIMIT_REACHED: { status: 409, message: 'The tenant has as many webhook endpoints as it may (webhooks.maxEndpointsPerTenant): delete one first.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof webhooksErrors> {}
}
