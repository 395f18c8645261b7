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

  constructor(private readonly file: ConfigFile) {
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
