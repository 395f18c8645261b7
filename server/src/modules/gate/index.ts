export { DecisionService, MAX_IN_FLIGHT as DECISION_STATEMENTS_IN_FLIGHT, type DecisionParts } from './service.js';
export { TenantSnapshots } from './snapshot.js';
export { checkAuthorizeRequest, DECISION_CODES, DecisionSchema, type AuthorizeContext, type AuthorizeRequest, type Decision, type DecisionCode } from './schemas.js';
export { DecisionLog } from './log.js';
export { createGateMetrics, type GateMetrics } from './metrics.js';
export { gateRoutes } from './routes.js';
export { gateErrors } from './errors.js';
