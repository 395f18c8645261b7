import type { OperationConfig } from '../../config-schema.js';
import { AppError } from '../../lib/errors.js';
import { globMatch } from '../../lib/glob.js';
import type { PlansService } from '../plans/index.js';

export type Quantity = Readonly<Record<string, number>>;

export interface CostRequest {
  operation: string;
  quantity?: Quantity | undefined;
  model?: string | undefined;
}

/** Who the provider bills for a call: the platform's account, or the tenant's own (a route of the tenant). */
export type Billing = 'tenant' | 'platform';

export interface CostQuote {
  /** The canonical operation name (a legacy alias resolves to it). */
  operation: string;
  module: string;
  meter: string | null;
  credits: number;
  /** How the number came about, for the preview and the ledger's readers. */
  basis: string;
  /** The account the call runs on; on the tenant's own, the operation's ownAccount price applies when it has one. */
  billing: Billing;
}

/** Token quantities of per-token operations. */
export const INPUT_TOKENS = 'inputTokens';
export const OUTPUT_TOKENS = 'outputTokens';

/**
 * The cost table from the config: fixed, per N units rounded up with a minimum (the
 * phase-0 credit system truncated instead, charging 1,199 words as 11 × 100), or per
 * model token prices with an optional multiplier. Pure: previews and reservations share it.
 */
export function quote(plans: PlansService, request: CostRequest, billing: Billing = 'platform', options: { atMost?: number } = {}): CostQuote {
  const found = plans.operation(request.operation);
  if (!found) throw new AppError('OPERATION_NOT_FOUND', `no operation named "${request.operation}"`);
  const { name, config } = found;
  const own = billing === 'tenant' ? config.cost.ownAccount : undefined;
  const priced = price(own ?? config.cost, request);
  // A settlement charges at most what was held (`atMost`), however far past it the actual quantity prices.
  const credits = options.atMost === undefined ? priced.credits : Math.min(priced.credits, options.atMost);
  // A price the schema's quantities can reach only with a price configured in millions of
  // credits per unit: past 2^53 a count is no longer exact, and past 2^63 the database's
  // bigint refuses it — a 400 for that quantity, not a 500 from the statement.
  if (!Number.isSafeInteger(credits)) {
    throw new AppError('VALIDATION_FAILED', `the quantity prices the call at ${credits} credits, more than can be counted exactly`);
  }
  return {
    operation: name, module: config.module, meter: config.meter ?? null, credits,
    basis: own ? `own account: ${priced.basis}` : priced.basis, billing,
  };
}

type PriceConfig = OperationConfig['cost'] | NonNullable<OperationConfig['cost']['ownAccount']>;

function price(cost: PriceConfig, request: CostRequest): { credits: number; basis: string } {
  const quantity = request.quantity ?? {};
  if (cost.type === 'fixed') return { credits: cost.credits, basis: `fixed ${cost.credits}` };
  if (cost.type === 'per_unit') {
    assertPricedBy(quantity, [cost.unit]);
    const units = quantity[cost.unit] ?? 0;
    const credits = Math.max(cost.minimum, Math.ceil(units / cost.per) * cost.credits);
    return { credits, basis: `${cost.credits} per ${cost.per} ${cost.unit} (${units}), minimum ${cost.minimum}` };
  }
  if (!request.model) throw new AppError('MODEL_NOT_PRICED', 'this operation is priced per model: name the model');
  const entry = Object.entries(cost.models).find(([pattern]) => globMatch(pattern, request.model!));
  if (!entry) throw new AppError('MODEL_NOT_PRICED', `no price for model "${request.model}"`);
  const [pattern, rates] = entry;
  assertPricedBy(quantity, [INPUT_TOKENS, OUTPUT_TOKENS]);
  const input = quantity[INPUT_TOKENS] ?? 0;
  const output = quantity[OUTPUT_TOKENS] ?? 0;
  const multiplier = cost.multiplier ?? 1;
  const exact = ((input * rates.inputPer1k + output * rates.outputPer1k) / 1000) * multiplier;
  // Rounded to a millionth first so float noise (0.30000000000000004) cannot add a credit.
  const credits = Math.max(cost.minimum, Math.ceil(Math.round(exact * 1e6) / 1e6));
  return { credits, basis: `${pattern}: ${rates.inputPer1k}/${rates.outputPer1k} per 1k tokens × ${multiplier}, minimum ${cost.minimum}` };
}

/**
 * A quantity may name only what prices the operation. A misspelt unit ({"word_count":
 * 5000} for a price per words) would otherwise count as none, and the run would hold
 * the minimum: settling can charge no more than was held. A fixed price depends on no
 * quantity, so there any is ignored.
 */
function assertPricedBy(quantity: Quantity, units: readonly string[]): void {
  const other = Object.keys(quantity).filter((key) => !units.includes(key));
  if (other.length > 0) {
    throw new AppError('QUANTITY_NOT_PRICED', `this operation is priced by ${units.map((u) => `"${u}"`).join(' and ')}, not ${other.map((u) => `"${u}"`).join(', ')}`);
  }
}
