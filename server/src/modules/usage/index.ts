export { UsageService, type LoggedDecision, type UsageDay, type UsageExport, type UsageOptions } from './service.js';
export { csvField, type ExportFormat, type ExportOutcome, type UsageRecordView } from './export.js';
export { usageRoutes } from './routes.js';
export { usageErrors } from './errors.js';
