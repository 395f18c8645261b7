import { Type, type Static } from 'typebox';
import { Body, Nullable, OnBehalfOfSchema } from '../../http/schemas.js';
import { GIVEN_EXTERNAL_ID_MAX } from './external-id.js';
import { PROVIDERS } from './tables.js';

/** A route's name: what the decision names and the path carries. */
export const ROUTE_NAME = '^[a-z][a-z0-9_-]{0,62}$';
export const RouteName = Type.String({ pattern: ROUTE_NAME, maxLength: 63 });

/** An AWS commercial, China or GovCloud region: us-east-1, eu-central-1, cn-north-1, us-gov-west-1. */
const Region = Type.String({ pattern: '^[a-z]{2}(-gov|-iso[a-z]?)?-(north|south|east|west|central)(east|west)?-[1-9]$', maxLength: 32 });
/** An IAM role's ARN: the partition, a 12-digit account and the role's path and name (IAM's own character set). */
const RoleArn = Type.String({ pattern: '^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$', maxLength: 2048 });
/** STS's characters for an external ID; what the platform's (and a colon) leave of its 1224. */
const ExternalId = Type.String({
  pattern: `^[\\w+=,.@:/-]{2,${GIVEN_EXTERNAL_ID_MAX}}$`, maxLength: GIVEN_EXTERNAL_ID_MAX,
  description: 'optional: STS gets the tenant\'s own external ID (the platform\'s, `externalId` of the route list), then `:` and this',
});
/** A provider key: printable ASCII, no spaces. */
const ApiKey = Type.String({ pattern: '^[\\x21-\\x7e]{8,512}$', maxLength: 512 });
/** Model globs (`*` any run, `?` one character), as the plan and the prices spell them. */
const Models = Type.Array(Type.String({ pattern: '^[A-Za-z0-9._:/@*?-]{1,200}$', maxLength: 200 }), { minItems: 1, maxItems: 50, description: 'model globs this route takes; default ["*"] (every call, one without a model too)' });
const BaseUrl = Type.String({ minLength: 9, maxLength: 500, pattern: '^https://', description: 'https only, a public host (no address or name of a private, loopback or link-local network)' });

export const BedrockRouteBody = Body({
  provider: Type.Literal('bedrock'), region: Region, roleArn: RoleArn, externalId: Type.Optional(ExternalId),
  models: Type.Optional(Models), enabled: Type.Optional(Type.Boolean()),
});
export const KeyRouteBody = Body({
  provider: Type.Union([Type.Literal('openai'), Type.Literal('anthropic')]), apiKey: ApiKey, baseUrl: Type.Optional(BaseUrl),
  models: Type.Optional(Models), enabled: Type.Optional(Type.Boolean()),
});
export const RouteBody = Type.Union([BedrockRouteBody, KeyRouteBody]);
export type RouteInput = Static<typeof RouteBody>;

/** A route as it is shown: never its secret, only the last four characters of a long one. */
export const RouteViewSchema = Type.Object({
  name: Type.String(),
  provider: Type.Enum(PROVIDERS),
  region: Nullable(Type.String()),
  models: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  roleArn: Nullable(Type.String()),
  baseUrl: Nullable(Type.String()),
  secretLastFour: Nullable(Type.String(), { description: 'the last four characters of the external ID the PUT gave (Bedrock) or the API key; null when it is shorter than 16 characters (or none was given)' }),
  legacyExternalId: Type.Boolean({ description: 'a Bedrock route stored before the platform made the external IDs: STS gets the one its PUT gave, alone, until the route is replaced' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type RouteView = Static<typeof RouteViewSchema>;

/** Where the decision sends a call: a route of the tenant (billing "tenant"), else the platform's. */
export const RouteSchema = Type.Object({
  provider: Type.String(),
  name: Type.String(),
  region: Nullable(Type.String()),
  billing: Type.Union([Type.Literal('tenant'), Type.Literal('platform')], { description: 'whose provider account the call runs on, and so which price applies' }),
  revision: Type.Optional(Type.String({ description: 'a route of the tenant: its revision as the decision read it; the decision\'s credentials are given only while the route is still at it' })),
});
export type Route = Static<typeof RouteSchema>;

export const CredentialsBody = Body({ decisionId: Type.String({ pattern: '^dec_[0-9A-Z]{26}$', maxLength: 30 }), onBehalfOf: Type.Optional(OnBehalfOfSchema) });

export const CredentialsSchema = Type.Union([
  Type.Object({
    provider: Type.Literal('bedrock'), region: Type.String(), route: Type.String(),
    credentials: Type.Object({ accessKeyId: Type.String(), secretAccessKey: Type.String(), sessionToken: Type.String(), expiration: Type.String() }),
  }),
  Type.Object({ provider: Type.Union([Type.Literal('openai'), Type.Literal('anthropic')]), route: Type.String(), apiKey: Type.String(), baseUrl: Nullable(Type.String()) }),
]);
export type ProviderCredentialsView = Static<typeof CredentialsSchema>;
