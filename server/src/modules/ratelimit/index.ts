export { RateLimitService, keyRateCheck, rateLimitHeaders, type FailMode, type RateCheck, type RateOutcome, type RateRule } from './service.js';
export { ratelimitErrors } from './errors.js';
export { trackRateLimits } from './metrics.js';
