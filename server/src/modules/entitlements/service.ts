import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { anyGlobMatch } from '../../lib/glob.js';
import type { CallContext } from '../../lib/principal.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { BillingService } from '../billing/index.js';
import type { PlansService } from '../plans/index.js';
import * as repo from './repo.js';
import { CONCURRENT_RUNS } from './tables.js';

/** What a tenant may do right now: its plan, with the operator's overrides and its module switches applied. */
export interface Entitlements {
  tenantId: string;
  plan: string;
  enterprise: boolean;
  /** Every configured meter; null means unlimited. */
  limits: Record<string, number | null>;
  concurrentRuns: number | null;
  creditsPerPeriod: number;
  features: readonly string[];
  models: readonly string[];
  /** Every configured module → whether the tenant may use it now. */
  modules: Record<string, boolean>;
}

export interface ModuleView { module: string; enabled: boolean; inPlan: boolean; switchedOff: boolean }

export interface OverridePatch { limits?: Record<string, number | null> | undefined; enterprise?: boolean | null | undefined }

export const moduleEnabled = (e: Entitlements, module: string): boolean => e.modules[module] === true;
export const modelAllowed = (e: Entitlements, model: string): boolean => anyGlobMatch(e.models, model);
export const hasFeature = (e: Entitlements, feature: string): boolean => e.features.includes(feature);

export class EntitlementsService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly billing: BillingService,
    private readonly plans: PlansService,
  ) {}

  /** Plan + overrides + module switches, read inside the caller's transaction (the decision composes it). */
  async effective(tx: Executor, tenantId: string): Promise<Entitlements> {
    const subscription = await this.billing.get(tx, tenantId);
    const plan = this.plans.ofSubscription(subscription?.plan);
    const overrides = await repo.findOverrides(tx, tenantId);
    const switches = await repo.listModuleSwitches(tx, tenantId);
    const limits: Record<string, number | null> = {};
    for (const meter of Object.keys(this.plans.meters())) {
      limits[meter] = overrides?.limits[meter] ?? plan.limits[meter] ?? null;
    }
    const off = new Set(switches.filter((s) => !s.enabled).map((s) => s.module));
    const modules: Record<string, boolean> = {};
    for (const module of this.plans.modules()) modules[module] = plan.modules.includes(module) && !off.has(module);
    return {
      tenantId, plan: plan.id, enterprise: overrides?.enterprise ?? plan.enterprise, limits,
      concurrentRuns: overrides?.limits[CONCURRENT_RUNS] ?? plan.concurrentRuns,
      creditsPerPeriod: plan.creditsPerPeriod, features: plan.features, models: plan.models, modules,
    };
  }

  async enterpriseOverride(tx: Executor, tenantId: string): Promise<boolean | null> {
    return (await repo.findOverrides(tx, tenantId))?.enterprise ?? null;
  }

  async listModules(tenantId: string): Promise<ModuleView[]> {
    return inTenant(this.db, tenantId, (tx) => this.moduleViews(tx, tenantId));
  }

  /** Owners/admins switch a module off or back on; a module outside the plan cannot be switched on. */
  async setModule(tenantId: string, module: string, enabled: boolean, actor: Actor, ctx: CallContext): Promise<ModuleView> {
    if (!this.plans.modules().includes(module)) throw new AppError('MODULE_NOT_FOUND');
    return inTenant(this.db, tenantId, async (tx) => {
      const before = (await this.moduleViews(tx, tenantId)).find((m) => m.module === module)!;
      if (enabled && !before.inPlan) throw new AppError('MODULE_NOT_IN_PLAN');
      if (before.switchedOff === !enabled) return before;
      await repo.saveModuleSwitch(tx, { tenantId, module, enabled, updatedAt: this.clock.now() });
      await this.audit.record(tx, {
        tenantId, actor, action: enabled ? 'module.enable' : 'module.disable',
        target: { type: 'module', id: module }, data: { module, enabled }, requestId: ctx.requestId,
      });
      return { ...before, enabled: before.inPlan && enabled, switchedOff: !enabled };
    });
  }

  private async moduleViews(tx: Executor, tenantId: string): Promise<ModuleView[]> {
    const e = await this.effective(tx, tenantId);
    const plan = this.plans.require(e.plan);
    const off = new Set((await repo.listModuleSwitches(tx, tenantId)).filter((s) => !s.enabled).map((s) => s.module));
    return this.plans.modules().map((module) => ({
      module, enabled: e.modules[module] === true, inPlan: plan.modules.includes(module), switchedOff: off.has(module),
    }));
  }

  /**
   * Applies an operator's overrides inside the operator's transaction and returns what
   * changed, for the caller's audit entry. Changing a limit never touches `used`.
   */
  async applyOverrides(tx: Executor, tenantId: string, patch: OverridePatch): Promise<Record<string, { from: unknown; to: unknown }>> {
    const meters = this.plans.meters();
    for (const key of Object.keys(patch.limits ?? {})) {
      if (key !== CONCURRENT_RUNS && !Object.hasOwn(meters, key)) throw new AppError('METER_NOT_FOUND', `no meter named "${key}"`);
    }
    const before = await repo.findOverrides(tx, tenantId);
    const limits: Record<string, number> = { ...(before?.limits ?? {}) };
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const [key, value] of Object.entries(patch.limits ?? {})) {
      const from = limits[key] ?? null;
      if (value === null) delete limits[key];
      else limits[key] = value;
      if (from !== value) changes[`limits.${key}`] = { from, to: value };
    }
    const enterprise = patch.enterprise === undefined ? (before?.enterprise ?? null) : patch.enterprise;
    if (enterprise !== (before?.enterprise ?? null)) changes.enterprise = { from: before?.enterprise ?? null, to: enterprise };
    if (Object.keys(changes).length > 0) {
      await repo.saveOverrides(tx, { tenantId, limits, enterprise, updatedAt: this.clock.now() });
    }
    return changes;
  }
}
