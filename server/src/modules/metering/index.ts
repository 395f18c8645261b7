export { Metering, type Caller, type MeteringParts, type ReserveRequest, type UsageReport } from './service.js';
export { PeriodStanding, type Standing } from './periods.js';
export { meteringRoutes } from './routes.js';
export { creditsAdminRoutes, creditsRoutes } from './credit-routes.js';
