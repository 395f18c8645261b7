export { PlansService, type Plan } from './service.js';
export { plansRoutes } from './routes.js';
export { plansErrors } from './errors.js';
