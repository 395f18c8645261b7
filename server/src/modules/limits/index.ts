export { LimitsService, type AcquireResult, type Bypass, type ConsumeInput, type ConsumeResult, type MeterUsage, type UsageEvent } from './service.js';
