import type { ConfigFile, OperationConfig, PlanConfig } from '../../config-schema.js';
import { AppError } from '../../lib/errors.js';

export interface Plan extends PlanConfig {
  id: string;
}

/** The plan catalog as the config file defines it; read-only at runtime. */
export class PlansService {
  private readonly plans: Map<string, Plan>;
  private readonly defaultName: string;
  private readonly operationsByName: Map<string, { name: string; config: OperationConfig }>;
  private readonly unknownSeen = new Set<string>();

  /** `onUnknownPlan`: told once per plan name a subscription has and this config lacks (ofSubscription). */
  constructor(private readonly file: ConfigFile, private readonly onUnknownPlan?: (plan: string) => void) {
    this.plans = new Map(Object.entries(file.plans).map(([id, plan]) => [id, { ...plan, id }]));
    this.defaultName = Object.entries(file.plans).find(([, p]) => p.default)![0];
    this.operationsByName = new Map();
    for (const [name, config] of Object.entries(file.operations)) {
      this.operationsByName.set(name, { name, config });
      for (const alias of config.aliases ?? []) this.operationsByName.set(alias, { name, config });
    }
  }

  list(): Plan[] {
    return [...this.plans.values()];
  }

  get(id: string): Plan | undefined {
    return this.plans.get(id);
  }

  require(id: string): Plan {
    const plan = this.plans.get(id);
    if (!plan) throw new AppError('PLAN_NOT_FOUND', `no plan named "${id}"`);
    return plan;
  }

  defaultPlan(): Plan {
    return this.plans.get(this.defaultName)!;
  }

  /**
   * The plan a subscription names; the default plan for a tenant without one. A name this
   * config lacks gets the default plan too, but not silently: onUnknownPlan hears of it.
   * A server will not start with such a tenant (deps.ts); one can still appear while
   * processes with different configs run side by side, as in a rolling deploy.
   */
  ofSubscription(planId: string | null | undefined): Plan {
    if (planId === null || planId === undefined) return this.defaultPlan();
    const plan = this.plans.get(planId);
    if (plan) return plan;
    if (!this.unknownSeen.has(planId)) {
      this.unknownSeen.add(planId);
      this.onUnknownPlan?.(planId);
    }
    return this.defaultPlan();
  }

  modules(): readonly string[] {
    return this.file.modules;
  }

  meters(): ConfigFile['meters'] {
    return this.file.meters;
  }

  /** Resolves an operation or one of its legacy aliases to its canonical definition. */
  operation(nameOrAlias: string): { name: string; config: OperationConfig } | undefined {
    return this.operationsByName.get(nameOrAlias);
  }

  operations(): ConfigFile['operations'] {
    return this.file.operations;
  }
}
