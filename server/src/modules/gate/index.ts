export { GateService, type AuthorizeContext, type AuthorizeRequest, type Decision, type DecisionCode, type GateParts } from './service.js';
export { DecisionLog } from './log.js';
export { createGateMetrics, type GateMetrics } from './metrics.js';
export { gateRoutes } from './routes.js';
export { gateErrors } from './errors.js';
