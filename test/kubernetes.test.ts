/**
 * The Kubernetes manifests (deploy/kubernetes: a kustomize base and the example overlay).
 *
 *   - Every object in their YAML files, and every object `kubectl kustomize` renders from the base and the overlay,
 *     is checked against the Kubernetes schemas: kubernetes-models' validators (types, required fields, enums), plus
 *     a check for unknown fields, which those validators let through (the OpenAPI schemas allow them, and the API
 *     server drops them with a mere warning: a misspelt `readinesProbe` would leave the pod without a probe).
 *   - The values the deployment relies on: 3 replicas; probes on /ready and /health at the HTTP port; non-root, read-only
 *     root file system; a grace period above the preStop pause plus SHUTDOWN_GRACE_MS and SHUTDOWN_TIMEOUT_MS (from
 *     the ConfigMap, or config.ts's defaults); resources from BENCHMARKS.md; an HPA on CPU; a PDB; the Service, HPA,
 *     PDB and Ingress pointing at the Deployment and its pods; every Secret key the Deployment names present; the
 *     ConfigMap and Secret accepted by parseConfig.
 *
 * Without kubectl the rendering tests are skipped (their titles say so), and the same checks run on the files
 * themselves, with the ConfigMap and Secret read from the generators' env files.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress, type IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { APP_ROOT, parseConfig } from '../src/config.js';

const KUBE_DIR = path.join(APP_ROOT, 'deploy/kubernetes');
const BASE = path.join(KUBE_DIR, 'base');
const OVERLAY = path.join(KUBE_DIR, 'overlays/example');

/** BENCHMARKS.md, "Memory and start-up": one replica's resident memory under 8 × 1,000 applications, the largest seen. */
const MEASURED_MB = { bulk: 449, largest: 490 };
/** PostgreSQL's default max_connections (100) less its superuser_reserved_connections (3). */
const POSTGRES_CONNECTIONS = 97;
/** The PostgreSQL audit store's variables, read by src/config.ts once that store lands. */
const AWAITED_VARIABLES = ['AUDIT_DATABASE_URL', 'AUDIT_POOL_SIZE'];
/** The Secret keys the replicas need on Kubernetes. */
const SECRET_KEYS = ['AUDIT_DATABASE_URL', 'API_KEYS', 'ADMIN_KEY_SHA256'];

type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } };

/** The kinds the manifests use, each with the kubernetes-models class that validates it. */
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1 Ingress': Ingress,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
  'v1 Service': Service,
};

/**
 * What is wrong with one object: the schema's complaints, and every field the schema does not know. The validators
 * are compiled JSON schemas that read each property they know (maps, such as labels, are iterated, so all their
 * keys are read); the object is validated through a proxy that records those reads, and a property never read is
 * unknown to the schema.
 */
function problemsOf(object: Manifest): string[] {
  const where = `${object.kind ?? '(no kind)'} ${object.metadata?.name ?? '(no name)'}`;
  const model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (!model) return [`${where}: no schema for apiVersion ${object.apiVersion} kind ${object.kind} (add it to MODELS)`];
  // one proxy and one set of reads per object: a validator reads a property once to test it and again to descend
  const visited = new Map<object, { at: string; proxy: object; read: Set<string> }>();
  const track = (value: unknown, at: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const seen = visited.get(value);
    if (seen) return seen.proxy;
    const read = new Set<string>();
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const child = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
        read.add(key);
        return track(child, `${at}.${key}`);
      },
      has(target, key) {
        if (typeof key === 'string') read.add(key);
        return Reflect.has(target, key);
      },
    });
    visited.set(value, { at, proxy, read });
    return proxy;
  };
  const problems: string[] = [];
  try {
    model.prototype.validate.call(track(object, ''));
  } catch (error) {
    problems.push(`${where}: ${(error as Error).message}`);
  }
  for (const [value, { at, read }] of visited) {
    for (const key of Object.keys(value)) if (!read.has(key)) problems.push(`${where}: unknown field ${at}.${key}`);
  }
  return problems;
}

/** The objects of a YAML stream; a syntax error fails. */
function objectsOf(text: string, source: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc) => {
    expect(doc.errors.map((e) => e.message), source).toEqual([]);
    const value = doc.toJS() as Manifest | null;
    return value === null ? [] : [value];
  });
}

/** A kustomize env file (KEY=VALUE lines, # comments): what its generator puts in the ConfigMap or Secret. */
function envFile(file: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const eq = line.indexOf('=');
    expect(eq, `${file}: "${line}" is not KEY=VALUE`).toBeGreaterThan(0);
    entries.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  const keys = entries.map(([k]) => k);
  expect(new Set(keys).size, `${file} lists a key twice`).toBe(keys.length);
  return Object.fromEntries(entries);
}

/** Variable names config.ts reads (the keys of its zod schema). */
const knownVariables = () => new Set(readFileSync(path.join(APP_ROOT, 'src/config.ts'), 'utf8').match(/^ {4}[A-Z][A-Z0-9_]*(?=:)/gm)!.map((s) => s.trim()));

function unknownVariables(env: Record<string, string>): string[] {
  const known = knownVariables();
  return Object.keys(env).filter((k) => !known.has(k) && !AWAITED_VARIABLES.includes(k));
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  configMapGenerator?: { name: string; behavior?: string; envs?: string[]; literals?: string[] }[];
  secretGenerator?: { name: string; envs?: string[]; literals?: string[] }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}
const kustomization = (dir: string) => parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;

/** Every YAML file under deploy/kubernetes but the kustomization files. */
function manifestFiles(dir = KUBE_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return manifestFiles(full);
    return entry.name.endsWith('.yaml') && entry.name !== 'kustomization.yaml' ? [full] : [];
  });
}

/** What a kustomization deploys, and the ConfigMap and Secret its Deployment reads. */
interface Bundle {
  objects: Manifest[];
  configMap: { name: string; data: Record<string, string> };
  secret: { name: string; data: Record<string, string> };
}

/** The example overlay as its files describe it: the base's and the overlay's objects, the generators' values. */
function bundleFromFiles(): Bundle {
  const objects = [BASE, OVERLAY].flatMap((dir) =>
    (kustomization(dir).resources ?? [])
      .filter((r) => r.endsWith('.yaml'))
      .flatMap((r) => objectsOf(readFileSync(path.join(dir, r), 'utf8'), r)),
  );
  const [baseConfig] = kustomization(BASE).configMapGenerator!;
  const config = { ...envFile(path.join(BASE, baseConfig.envs![0])) };
  for (const gen of kustomization(OVERLAY).configMapGenerator ?? []) {
    expect(gen).toMatchObject({ name: baseConfig.name, behavior: 'merge' });
    for (const literal of gen.literals ?? []) config[literal.slice(0, literal.indexOf('='))] = literal.slice(literal.indexOf('=') + 1);
  }
  const [secretGen] = kustomization(OVERLAY).secretGenerator!;
  return {
    objects,
    configMap: { name: baseConfig.name, data: config },
    secret: { name: secretGen.name, data: envFile(path.join(OVERLAY, secretGen.envs![0])) },
  };
}

const KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const SKIPPED = KUBECTL ? '' : ' (skipped: no working kubectl on PATH; apt-get install kubectl where apt has it)';

function kustomize(dir: string): Manifest[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  const objects = objectsOf(result.stdout, `kubectl kustomize ${path.relative(APP_ROOT, dir)}`);
  // kubectl folds a long base64 value over lines, which the API server reads as is (Go's base64 skips line breaks)
  // and the schema's "byte" format does not allow: unfold it
  for (const o of objects as { kind?: string; data?: Record<string, string> }[]) {
    if (o.kind === 'Secret' && o.data) for (const k of Object.keys(o.data)) o.data[k] = o.data[k].replace(/\n/g, '');
  }
  return objects;
}

function bundleFromRender(objects: Manifest[]): Bundle {
  const only = <T>(kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found, `one ${kind}`).toHaveLength(1);
    return found[0] as T;
  };
  const configMap = only<{ metadata: { name: string }; data: Record<string, string> }>('ConfigMap');
  const secret = only<{ metadata: { name: string }; data: Record<string, string> }>('Secret');
  const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  return { objects, configMap: { name: configMap.metadata.name, data: configMap.data }, secret: { name: secret.metadata.name, data: decoded } };
}

/** Bytes of a memory quantity (448Mi, 1Gi, 500M, 1e9). */
function bytes(quantity: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(String(quantity));
  if (!m) throw new Error(`cannot read the memory quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** Cores of a CPU quantity (500m, 1, "2"). */
const cores = (quantity: string | number) => (String(quantity).endsWith('m') ? Number(String(quantity).slice(0, -1)) / 1000 : Number(quantity));

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

/** The checks of the deployment's values, on the files or on kubectl's render. */
function checkBundle({ objects, configMap, secret }: Bundle) {
  const of = <T>(kind: string) => objects.filter((o) => o.kind === kind) as T[];
  const [deployment, ...moreDeployments] = of<IDeployment>('Deployment');
  expect(moreDeployments).toHaveLength(0);
  const spec = deployment.spec!;
  const pod = spec.template.spec!;
  const podLabels = spec.template.metadata?.labels;
  expect(spec.replicas).toBe(3);
  expect(matches(spec.selector.matchLabels, podLabels), 'the Deployment selects its own pods').toBe(true);
  expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });

  // the configuration the replicas start with: what the ConfigMap and Secret say, over config.ts's defaults
  expect(unknownVariables({ ...configMap.data, ...secret.data }), 'variables config.ts does not read').toEqual([]);
  const config = parseConfig({ ...configMap.data, ...secret.data });

  const [container, ...sidecars] = pod.containers;
  expect(sidecars).toHaveLength(0);
  const port = (ref: string | number | undefined) =>
    typeof ref === 'number' ? ref : container.ports?.find((p) => p.name === ref)?.containerPort;
  expect(port('http')).toBe(config.http.port);
  expect(config.http.port).toBe(8000);
  expect(port('metrics')).toBe(config.http.metricsPort);
  expect(config.http.metricsHost, 'metrics on the pod address, for a scraper in the cluster').toBe('0.0.0.0');
  expect(spec.template.metadata?.annotations?.['prometheus.io/port']).toBe(String(config.http.metricsPort));
  expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
  expect(port(container.readinessProbe?.httpGet?.port)).toBe(8000);
  expect(container.livenessProbe?.httpGet?.path).toBe('/health');
  expect(port(container.livenessProbe?.httpGet?.port)).toBe(8000);

  // non-root, read-only root file system, nothing more than it needs
  expect(pod.securityContext?.runAsNonRoot).toBe(true);
  expect(pod.securityContext?.runAsUser).toBe(1000);
  expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
  expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
  expect(container.securityContext?.capabilities?.drop).toEqual(['ALL']);
  expect(pod.enableServiceLinks).toBe(false);
  for (const mount of container.volumeMounts ?? []) {
    expect(pod.volumes?.find((v) => v.name === mount.name)?.emptyDir, `${mount.mountPath}: only emptyDir is writable`).toBeDefined();
  }

  // SIGTERM comes after the preStop pause; the server then needs SHUTDOWN_GRACE_MS + SHUTDOWN_TIMEOUT_MS at most
  const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
  expect(preStop).toHaveLength(2);
  expect(preStop[0]).toBe('sleep');
  const pauseSeconds = Number(preStop[1]);
  expect(pauseSeconds).toBeGreaterThan(0);
  const drainSeconds = (config.http.shutdownGraceMs + config.http.shutdownTimeoutMs) / 1000;
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pauseSeconds + drainSeconds);

  // resources from the measured figures
  const { requests, limits } = container.resources ?? {};
  expect(bytes(requests!.memory!)).toBeGreaterThanOrEqual(MEASURED_MB.bulk * 1e6);
  expect(bytes(limits!.memory!)).toBeGreaterThan(MEASURED_MB.largest * 1e6);
  expect(cores(requests!.cpu!)).toBe(1);
  expect(cores(limits!.cpu!)).toBeGreaterThanOrEqual(cores(requests!.cpu!));

  // configuration from the ConfigMap, the database URL and the key hashes from the Secret, every key present
  expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.name } }]);
  const fromSecret = (container.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [{ env: e.name, ...e.valueFrom.secretKeyRef }] : []));
  expect(fromSecret.map((r) => r.env).sort()).toEqual([...SECRET_KEYS].sort());
  for (const ref of fromSecret) {
    expect(ref.name, `${ref.env} comes from the Secret`).toBe(secret.name);
    expect(ref.optional ?? false, `${ref.env} is required`).toBe(false);
    expect(secret.data[ref.key], `the Secret has ${ref.key}`).toMatch(/\S/);
  }
  expect(secret.data.AUDIT_DATABASE_URL, 'the replicas share one PostgreSQL audit trail').toMatch(/^postgres(ql)?:\/\//);
  expect(config.auth.apiKeys.length).toBeGreaterThan(0);
  expect(config.auth.adminKeySha256).toMatch(/^[0-9a-f]{64}$/);
  expect(configMap.data.API_KEYS ?? configMap.data.ADMIN_KEY_SHA256 ?? configMap.data.AUDIT_DATABASE_URL).toBeUndefined();

  // the Service: the Deployment's pods, the HTTP port only
  const [service] = of<IService>('Service');
  expect(matches(service.spec?.selector, podLabels), 'the Service selects the Deployment pods').toBe(true);
  for (const p of service.spec?.ports ?? []) expect(port(p.targetPort)).toBe(config.http.port);

  // the HPA scales the Deployment on CPU, from its replicas up
  const [hpa] = of<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler');
  expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name });
  expect(hpa.spec?.metrics?.map((m) => [m.type, m.resource?.name, m.resource?.target.type])).toEqual([['Resource', 'cpu', 'Utilization']]);
  expect(hpa.spec?.minReplicas).toBe(spec.replicas);
  expect(hpa.spec!.maxReplicas).toBeGreaterThan(spec.replicas!);
  const poolSize = Number(configMap.data.AUDIT_POOL_SIZE ?? 10);
  const surge = Number(spec.strategy?.rollingUpdate?.maxSurge ?? 0);
  expect((hpa.spec!.maxReplicas + surge) * poolSize, 'PostgreSQL connections at full scale').toBeLessThanOrEqual(POSTGRES_CONNECTIONS);

  // the PDB keeps all but one replica through voluntary disruptions
  const [pdb] = of<IPodDisruptionBudget>('PodDisruptionBudget');
  expect(matches(pdb.spec?.selector?.matchLabels, podLabels), 'the PDB covers the Deployment pods').toBe(true);
  expect(pdb.spec?.maxUnavailable).toBe(1);

  // the Ingress (the compose nginx's place) sends to the Service's HTTP port
  for (const ingress of of<IIngress>('Ingress')) {
    for (const rule of ingress.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        expect(p.backend.service?.name).toBe(service.metadata?.name);
        expect(service.spec?.ports?.map((sp) => sp.name)).toContain(p.backend.service?.port?.name);
      }
    }
  }
  return { deployment, config };
}

describe('deploy/kubernetes, the files', () => {
  it('every object in every YAML file is valid against the Kubernetes schemas, with no unknown field', () => {
    const files = manifestFiles();
    expect(files.map((f) => path.relative(KUBE_DIR, f)).sort()).toEqual([
      'base/deployment.yaml',
      'base/hpa.yaml',
      'base/pdb.yaml',
      'base/service.yaml',
      'overlays/example/ingress.yaml',
    ]);
    for (const file of files) {
      const objects = objectsOf(readFileSync(file, 'utf8'), file);
      expect(objects.length, file).toBeGreaterThan(0);
      for (const object of objects) expect(problemsOf(object), path.relative(KUBE_DIR, file)).toEqual([]);
    }
  });

  it('every file a kustomization names exists, and every manifest is named by one', () => {
    const named = new Set<string>();
    for (const dir of [BASE, OVERLAY]) {
      const k = kustomization(dir);
      const generators = [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])];
      for (const ref of [...(k.resources ?? []), ...generators.flatMap((g) => g.envs ?? [])]) {
        const full = path.resolve(dir, ref);
        expect(existsSync(full), `${path.relative(KUBE_DIR, dir)}/kustomization.yaml names ${ref}`).toBe(true);
        named.add(full);
      }
    }
    for (const file of manifestFiles()) expect(named.has(file), `${path.relative(KUBE_DIR, file)} is in no kustomization`).toBe(true);
  });

  it("the ConfigMap's and Secret's variables are ones config.ts reads, with values it accepts", () => {
    const { configMap, secret } = bundleFromFiles();
    expect(unknownVariables(configMap.data)).toEqual([]);
    expect(Object.keys(secret.data).sort()).toEqual([...SECRET_KEYS].sort());
    expect(() => parseConfig({ ...configMap.data, ...secret.data })).not.toThrow();
  });

  it('the example overlay, as its files describe it, deploys what the service needs', () => {
    checkBundle(bundleFromFiles());
  });
});

describe('the checks can fail', () => {
  const deployment = () => objectsOf(readFileSync(path.join(BASE, 'deployment.yaml'), 'utf8'), 'deployment.yaml')[0] as IDeployment;

  it('an unknown field anywhere in a Deployment is reported, with its path', () => {
    const typo = deployment() as IDeployment & Record<string, unknown>;
    const container = typo.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    typo.spce = {};
    (typo.spec!.template.spec!.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
    expect(problemsOf(typo).sort()).toEqual([
      'Deployment loan-api: unknown field .spce',
      'Deployment loan-api: unknown field .spec.template.spec.containers.0.readinesProbe',
      'Deployment loan-api: unknown field .spec.template.spec.securityContext.readOnlyRootFileSystem',
    ]);
  });

  it('a wrong type, a missing required field and an unknown kind are reported', () => {
    const wrong = deployment();
    (wrong.spec as unknown as Record<string, unknown>).replicas = '3';
    expect(problemsOf(wrong).join('\n')).toMatch(/spec\/replicas must be integer/);
    const missing = deployment();
    delete (missing.spec!.template.spec!.containers[0] as { name?: string }).name;
    expect(problemsOf(missing).join('\n')).toMatch(/containers\/0 must have required property name/);
    expect(problemsOf({ apiVersion: 'apps/v1', kind: 'Deployement', metadata: { name: 'x' } })[0]).toMatch(/no schema for apiVersion apps\/v1 kind Deployement/);
  });

  it('a misspelt variable and a value config.ts refuses are reported', () => {
    expect(unknownVariables({ SHUTDOWN_GRACE_M: '1000', PORT: '8000', AUDIT_POOL_SIZE: '5' })).toEqual(['SHUTDOWN_GRACE_M']);
    expect(() => parseConfig({ SHUTDOWN_TIMEOUT_MS: '25s' })).toThrow(/SHUTDOWN_TIMEOUT_MS/);
  });

  it('a grace period below the pause plus the drain fails the deployment checks', () => {
    const bundle = bundleFromFiles();
    const short = bundle.objects.map((o) => (o.kind === 'Deployment' ? structuredClone(o) : o));
    (short.find((o) => o.kind === 'Deployment') as IDeployment).spec!.template.spec!.terminationGracePeriodSeconds = 30;
    expect(() => checkBundle({ ...bundle, objects: short })).toThrow(/expected 30 to be greater than 31/);
  });
});

describe('kubectl kustomize', () => {
  it.skipIf(!KUBECTL)(`renders the base, every object valid${SKIPPED}`, () => {
    const objects = kustomize(BASE);
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    for (const object of objects) expect(problemsOf(object)).toEqual([]);
  });

  it.skipIf(!KUBECTL)(`renders the example overlay, every object valid, with what the service needs${SKIPPED}`, () => {
    const objects = kustomize(OVERLAY);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    for (const object of objects) expect(problemsOf(object)).toEqual([]);
    const bundle = bundleFromRender(objects);
    // generated names carry a content hash, and the Deployment refers to them by it
    expect(bundle.configMap.name).toMatch(/^loan-api-config-[a-z0-9]{10}$/);
    expect(bundle.secret.name).toMatch(/^loan-api-secrets-[a-z0-9]{10}$/);
    const { deployment } = checkBundle(bundle);
    const { images, namespace } = kustomization(OVERLAY);
    expect(namespace).toBeTruthy();
    expect(deployment.spec!.template.spec!.containers[0].image).toBe(`${images![0].newName}:${images![0].newTag}`);
    for (const object of objects) expect(object.metadata?.namespace, `${object.kind} namespace`).toBe(namespace);
  });
});
