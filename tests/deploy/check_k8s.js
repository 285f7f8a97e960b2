/*
 * check_k8s.js - hold deploy/kubernetes/*.yaml to the Kubernetes API schemas,
 * the Pod Security Standards "restricted" profile and ingestd's own rules
 *
 *   node check_k8s.js ROOT                  check ROOT/deploy/kubernetes/*.yaml
 *   node check_k8s.js --self-test ROOT      plant one fault at a time in a copy
 *                                           of the parsed documents; each must
 *                                           be caught with its message
 *
 * Offline: the schemas are the ajv validators that the npm package
 * kubernetes-models ships (generated from the Kubernetes OpenAPI document,
 * 1.33 here), installed by `npm ci` in this folder. They check types, enums,
 * required fields and formats (quantities, int-or-string) but allow unknown
 * fields, as the API server's non-strict decoding does; kubectl's strict field
 * validation rejects them. So every object is wrapped in a Proxy that records
 * which fields the validator reads: a generated validator reads each field its
 * schema defines (and every entry of a map), so a field it never reads is one
 * the schema does not know (a typo such as readOnlyRootFileSystem). Fields
 * under a schema that accepts anything would read as unknown as well; these
 * manifests have none.
 *
 * The restricted profile (kubernetes.io/docs/concepts/security/pod-security-
 * standards, which includes "baseline") is checked field by field below; the
 * schema alone does not prove it. Every message names the file, the document
 * and the field. Exit status 1 when anything is wrong.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

/* ---- loading ------------------------------------------------------------- */

/* Every YAML document of every *.yaml in DIR: [{file, index, obj}]. kubectl reads YAML 1.1
 * (an octal 0440 is 288), so the parser does as well. */
function loadDocs(dir, problems) {
    const docs = [];
    const files = fs
        .readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort();
    if (files.length === 0)
        problems.push(`${dir}: no *.yaml manifests`);
    for (const file of files) {
        const text = fs.readFileSync(path.join(dir, file), "utf8");
        const parsed = YAML.parseAllDocuments(text, { version: "1.1" });
        parsed.forEach((doc, index) => {
            if (doc.errors.length) {
                problems.push(`${file}#${index}: YAML: ${doc.errors[0].message}`);
                return;
            }
            const obj = doc.toJS();
            if (obj === null || obj === undefined)
                return; /* an empty document (comments only) */
            docs.push({ file, index, obj });
        });
    }
    return docs;
}

/* The uid the Dockerfile's runtime stage creates its user with (useradd --uid N), or null. */
function dockerfileUid(root) {
    let text;
    try {
        text = fs.readFileSync(path.join(root, "Dockerfile"), "utf8");
    } catch (e) {
        return null;
    }
    const m = /useradd\b[^\n]*--uid\s+(\d+)/.exec(text);
    return m ? Number(m[1]) : null;
}

/* ---- schema validation ---------------------------------------------------- */

/* kubernetes-models' module for an apiVersion: "v1" -> "kubernetes-models/v1",
 * "apps/v1" -> "kubernetes-models/apps/v1". */
function modelFor(apiVersion, kind) {
    if (typeof apiVersion !== "string" || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion))
        return null;
    let mod;
    try {
        mod = require(`kubernetes-models/${apiVersion}`);
    } catch (e) {
        return null;
    }
    return typeof mod[kind] === "function" ? mod[kind] : null;
}

/* A deep copy of v whose objects are Proxies recording the fields read; `seen` collects
 * {where, obj, read} for each object. */
function tracked(v, where, seen) {
    if (Array.isArray(v))
        return v.map((e, i) => tracked(e, `${where}[${i}]`, seen));
    if (v === null || typeof v !== "object")
        return v;
    const copy = {};
    for (const k of Object.keys(v))
        copy[k] = tracked(v[k], where ? `${where}.${k}` : k, seen);
    const read = new Set();
    seen.push({ where, obj: copy, read });
    return new Proxy(copy, {
        get(target, key, receiver) {
            if (typeof key === "string")
                read.add(key);
            return Reflect.get(target, key, receiver);
        },
    });
}

/* Schema errors and unknown fields of one document, as messages. */
function schemaCheck(obj) {
    const out = [];
    const Model = modelFor(obj && obj.apiVersion, obj && obj.kind);
    if (!Model) {
        out.push(`no schema for apiVersion ${JSON.stringify(obj && obj.apiVersion)} ` +
                 `kind ${JSON.stringify(obj && obj.kind)}`);
        return out;
    }
    const seen = [];
    const proxy = tracked(obj, "", seen);
    try {
        /* the model's validate() runs the generated validator on `this` */
        Model.prototype.validate.call(proxy);
    } catch (e) {
        for (const line of String(e.message).split(/,\s*(?=data)/))
            out.push(`schema: ${line.replace(/^data\/?/, "/")}`);
    }
    for (const { where, obj: o, read } of seen)
        for (const k of Object.keys(o))
            if (!read.has(k))
                out.push(`schema: unknown field ${where ? where + "." : ""}${k}`);
    return out;
}

/* ---- Pod Security Standards: restricted (and so baseline) ---------------- */

const SAFE_SYSCTLS = new Set([
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
]);
const RESTRICTED_VOLUMES = new Set([
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
]);
const SELINUX_TYPES = new Set(["", "container_t", "container_init_t", "container_kvm_t",
                               "container_engine_t"]);

function allContainers(spec) {
    return [
        ...(spec.initContainers || []).map((c) => ["initContainers", c]),
        ...(spec.containers || []).map((c) => ["containers", c]),
        ...(spec.ephemeralContainers || []).map((c) => ["ephemeralContainers", c]),
    ];
}

/* The restricted profile's rules for a pod spec at `at`; messages to `bad`. */
function restricted(spec, at, bad) {
    const psc = spec.securityContext || {};
    for (const f of ["hostNetwork", "hostPID", "hostIPC"])
        if (spec[f] === true)
            bad(`${at}.${f}: true (host namespaces are not allowed)`);
    if (psc.windowsOptions && psc.windowsOptions.hostProcess === true)
        bad(`${at}.securityContext.windowsOptions.hostProcess: true`);
    for (const s of psc.sysctls || [])
        if (!SAFE_SYSCTLS.has(s.name))
            bad(`${at}.securityContext.sysctls: ${s.name} is not in the safe set`);
    if (psc.runAsUser === 0)
        bad(`${at}.securityContext.runAsUser: 0 (root)`);
    checkSeLinux(psc.seLinuxOptions, `${at}.securityContext`, bad);
    checkAppArmor(psc.appArmorProfile, `${at}.securityContext`, bad);
    const podSeccomp = psc.seccompProfile && psc.seccompProfile.type;
    if (podSeccomp !== undefined && !["RuntimeDefault", "Localhost"].includes(podSeccomp))
        bad(`${at}.securityContext.seccompProfile.type: ${podSeccomp} (RuntimeDefault or Localhost)`);
    for (const v of spec.volumes || []) {
        const kinds = Object.keys(v).filter((k) => k !== "name");
        for (const k of kinds)
            if (!RESTRICTED_VOLUMES.has(k))
                bad(`${at}.volumes[${v.name}]: ${k} volumes are not allowed`);
    }
    for (const [list, c] of allContainers(spec)) {
        const where = `${at}.${list}[${c.name}]`;
        const sc = c.securityContext || {};
        if (sc.privileged === true)
            bad(`${where}.securityContext.privileged: true`);
        if (sc.windowsOptions && sc.windowsOptions.hostProcess === true)
            bad(`${where}.securityContext.windowsOptions.hostProcess: true`);
        if (sc.allowPrivilegeEscalation !== false)
            bad(`${where}.securityContext.allowPrivilegeEscalation: must be false`);
        const caps = sc.capabilities || {};
        if (!(caps.drop || []).includes("ALL"))
            bad(`${where}.securityContext.capabilities.drop: must include ALL`);
        for (const cap of caps.add || [])
            if (cap !== "NET_BIND_SERVICE")
                bad(`${where}.securityContext.capabilities.add: ${cap} (only NET_BIND_SERVICE)`);
        const nonRoot = sc.runAsNonRoot !== undefined ? sc.runAsNonRoot : psc.runAsNonRoot;
        if (nonRoot !== true)
            bad(`${where}: runAsNonRoot must be true (pod or container securityContext)`);
        if (sc.runAsUser === 0)
            bad(`${where}.securityContext.runAsUser: 0 (root)`);
        const seccomp = (sc.seccompProfile && sc.seccompProfile.type) || podSeccomp;
        if (!["RuntimeDefault", "Localhost"].includes(seccomp))
            bad(`${where}: seccompProfile.type must be RuntimeDefault or Localhost ` +
                `(pod or container securityContext), got ${seccomp}`);
        if (sc.procMount !== undefined && sc.procMount !== "Default")
            bad(`${where}.securityContext.procMount: ${sc.procMount}`);
        checkSeLinux(sc.seLinuxOptions, `${where}.securityContext`, bad);
        checkAppArmor(sc.appArmorProfile, `${where}.securityContext`, bad);
        for (const p of c.ports || [])
            if (p.hostPort)
                bad(`${where}.ports: hostPort ${p.hostPort} is not allowed`);
    }
}

function checkSeLinux(o, at, bad) {
    if (!o)
        return;
    if (!SELINUX_TYPES.has(o.type || ""))
        bad(`${at}.seLinuxOptions.type: ${o.type}`);
    if (o.user || o.role)
        bad(`${at}.seLinuxOptions: user and role must not be set`);
}

function checkAppArmor(o, at, bad) {
    if (o && !["RuntimeDefault", "Localhost"].includes(o.type))
        bad(`${at}.appArmorProfile.type: ${o.type}`);
}

/* ---- ingestd's own rules ---------------------------------------------------- */

function envValue(c, name) {
    const e = (c.env || []).find((x) => x.name === name);
    return e === undefined ? undefined : e;
}

function underMount(p, mountPath) {
    const m = mountPath.replace(/\/+$/, "");
    return p.startsWith(m + "/");
}

/* The seconds a preStop hook pauses (exec sleep N, or the sleep action), or null. */
function preStopSeconds(c) {
    const h = c.lifecycle && c.lifecycle.preStop;
    if (!h)
        return null;
    if (h.sleep && Number.isInteger(h.sleep.seconds))
        return h.sleep.seconds;
    const cmd = h.exec && h.exec.command;
    if (Array.isArray(cmd) && cmd.length === 2 && /(^|\/)sleep$/.test(cmd[0]) &&
        /^\d+$/.test(cmd[1]))
        return Number(cmd[1]);
    return null;
}

function labelsMatch(selector, labels) {
    const ml = (selector && selector.matchLabels) || {};
    if (Object.keys(ml).length === 0)
        return false;
    return Object.entries(ml).every(([k, v]) => labels && labels[k] === v);
}

/* Rules for the ingestd Deployment and what goes with it; messages to `bad`. */
function ingestdRules(docs, root, bad) {
    const deployments = docs.filter((d) => d.obj.kind === "Deployment");
    if (deployments.length === 0) {
        bad("no Deployment");
        return;
    }
    const uid = dockerfileUid(root);
    for (const d of deployments) {
        const at = `${d.file}#${d.index} Deployment ${d.obj.metadata && d.obj.metadata.name}`;
        const spec = d.obj.spec || {};
        const tpl = spec.template || {};
        const pod = tpl.spec || {};
        const labels = (tpl.metadata && tpl.metadata.labels) || {};
        const psc = pod.securityContext || {};
        const B = (msg) => bad(`${at}: ${msg}`);

        if (!(spec.replicas >= 2))
            B(`spec.replicas: ${spec.replicas} (at least 2)`);
        if (pod.automountServiceAccountToken !== false)
            B("automountServiceAccountToken must be false (ingestd never calls the API server)");
        const pdbs = docs.filter((x) => x.obj.kind === "PodDisruptionBudget" &&
                                        labelsMatch(x.obj.spec && x.obj.spec.selector, labels));
        if (pdbs.length === 0)
            B("no PodDisruptionBudget selects its pods");
        for (const p of pdbs) {
            const ps = p.obj.spec;
            const min = ps.minAvailable, max = ps.maxUnavailable;
            if (Number.isInteger(min) && !(min >= 1 && min < spec.replicas))
                B(`PodDisruptionBudget minAvailable ${min}: must be at least 1 and below ` +
                  `replicas ${spec.replicas} (or no node could ever be drained)`);
            if (Number.isInteger(max) && max < 1)
                B(`PodDisruptionBudget maxUnavailable ${max}: must be at least 1`);
        }
        const services = docs.filter((x) => x.obj.kind === "Service");
        if (!services.some((s) => s.obj.spec &&
                           labelsMatch({ matchLabels: s.obj.spec.selector }, labels)))
            B("no Service selects its pods");

        const volumes = new Map((pod.volumes || []).map((v) => [v.name, v]));
        const c = (pod.containers || []).find((x) => x.name === "ingestd");
        if (!c) {
            B("no container named ingestd");
            continue;
        }
        const cat = `containers[ingestd]`;
        const runAsUser = (c.securityContext && c.securityContext.runAsUser) !== undefined
                              ? c.securityContext.runAsUser : psc.runAsUser;
        if (!(Number.isInteger(runAsUser) && runAsUser > 0))
            B(`${cat}: runAsUser must be set to a non-root uid, got ${runAsUser}`);
        else if (uid !== null && runAsUser !== uid)
            B(`${cat}: runAsUser ${runAsUser} is not the image's user (Dockerfile --uid ${uid})`);
        if (!(c.securityContext && c.securityContext.readOnlyRootFilesystem === true))
            B(`${cat}.securityContext.readOnlyRootFilesystem: must be true`);

        /* writable places: /tmp and the data directory, each an emptyDir */
        const mounts = c.volumeMounts || [];
        const dataDir = (envValue(c, "INGESTD_DATA_DIR") || {}).value || "/var/lib/ingestd";
        for (const dir of ["/tmp", dataDir]) {
            const m = mounts.find((x) => x.mountPath.replace(/\/+$/, "") === dir);
            const v = m && volumes.get(m.name);
            if (!v || !v.emptyDir || m.readOnly)
                B(`${cat}: ${dir} must be a writable emptyDir mount (read-only root filesystem)`);
        }

        /* secrets as files only */
        for (const name of ["DATABASE_URL", "INGESTD_API_TOKENS", "AWS_SECRET_ACCESS_KEY",
                            "INGESTD_WEBHOOK_SECRET"]) {
            const e = envValue(c, name);
            if (e)
                B(`${cat}.env ${name}: pass secrets as files (${name}_FILE), not in the environment`);
        }
        for (const name of ["DATABASE_URL_FILE", "INGESTD_API_TOKENS_FILE"]) {
            const e = envValue(c, name);
            if (!e || typeof e.value !== "string") {
                B(`${cat}.env ${name}: missing (the Secret's file)`);
                continue;
            }
            const m = mounts.find((x) => underMount(e.value, x.mountPath));
            const v = m && volumes.get(m.name);
            if (!v || !v.secret) {
                B(`${cat}.env ${name}=${e.value}: not under a mounted secret volume`);
                continue;
            }
            if (!m.readOnly)
                B(`${cat}.volumeMounts[${m.name}]: mount the Secret readOnly`);
            const rel = e.value.slice(m.mountPath.replace(/\/+$/, "").length + 1);
            const items = v.secret.items;
            const key = items ? (items.find((i) => i.path === rel) || {}).key : rel;
            const secret = docs.find((x) => x.obj.kind === "Secret" && x.obj.metadata &&
                                            x.obj.metadata.name === v.secret.secretName);
            if (!key)
                B(`${cat}.env ${name}: ${rel} is not among the secret volume's items`);
            else if (!secret)
                B(`${cat}.env ${name}: no Secret ${v.secret.secretName} (example) in this folder`);
            else if (!Object.keys({ ...secret.obj.data, ...secret.obj.stringData }).includes(key))
                B(`${cat}.env ${name}: Secret ${v.secret.secretName} has no key ${key}`);
        }

        /* probes on the port ingestd listens on */
        const listen = (envValue(c, "INGESTD_LISTEN") || {}).value || "";
        const port = Number((/:(\d+)$/.exec(listen) || [])[1]);
        const ports = c.ports || [];
        const portOk = (p) => p === port ||
                              ports.some((x) => x.name === p && x.containerPort === port);
        if (!/^0\.0\.0\.0:|^\[::\]:/.test(listen))
            B(`${cat}.env INGESTD_LISTEN=${listen}: listen on all addresses (0.0.0.0:PORT)`);
        for (const [probe, want] of [["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"]]) {
            const g = c[probe] && c[probe].httpGet;
            if (!g || g.path !== want || !portOk(g.port))
                B(`${cat}.${probe}: must be httpGet ${want} on port ${port}`);
        }

        /* resources */
        const r = c.resources || {};
        for (const [k, res] of [["requests", "cpu"], ["requests", "memory"], ["limits", "memory"]])
            if (!(r[k] && r[k][res] !== undefined))
                B(`${cat}.resources.${k}.${res}: missing`);

        /* shutdown: the preStop pause, then INGESTD_SHUTDOWN_GRACE, within the grace period */
        const pause = preStopSeconds(c);
        if (pause === null || pause < 1)
            B(`${cat}.lifecycle.preStop: must pause (exec ["/bin/sleep", "N"]) so the endpoint ` +
              "drains before SIGTERM");
        const graceEnv = (envValue(c, "INGESTD_SHUTDOWN_GRACE") || {}).value;
        const grace = graceEnv === undefined ? 20 : Number(graceEnv);
        const period = pod.terminationGracePeriodSeconds === undefined
                           ? 30 : pod.terminationGracePeriodSeconds;
        if (!(period > (pause || 0) + grace))
            B(`terminationGracePeriodSeconds ${period}: must exceed preStop ${pause} s + ` +
              `INGESTD_SHUTDOWN_GRACE ${grace} s`);
    }
}

/* ---- driver ----------------------------------------------------------------- */

/* Every problem of the documents, as messages. */
function checkDocs(docs, root) {
    const problems = [];
    for (const d of docs) {
        const at = `${d.file}#${d.index} ${d.obj.kind} ${d.obj.metadata && d.obj.metadata.name}`;
        for (const m of schemaCheck(d.obj))
            problems.push(`${at}: ${m}`);
        const pod = d.obj.kind === "Pod" ? d.obj.spec
                    : d.obj.spec && d.obj.spec.template && d.obj.spec.template.spec;
        if (pod)
            restricted(pod, `${at}: spec`, (m) => problems.push(m));
    }
    ingestdRules(docs, root, (m) => problems.push(m));
    return problems;
}

/* One planted fault per case: [name, mutate(docs), expected message fragment]. */
const dep = (docs) => docs.find((d) => d.obj.kind === "Deployment").obj;
const ctr = (docs) => dep(docs).spec.template.spec.containers[0];
const FAULTS = [
    ["capabilities.drop without ALL", (ds) => { ctr(ds).securityContext.capabilities.drop = []; },
     "capabilities.drop: must include ALL"],
    ["a typo in a field name", (ds) => {
        const sc = ctr(ds).securityContext;
        delete sc.readOnlyRootFilesystem;
        sc.readOnlyRootFileSystem = true;
    }, "unknown field spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"],
    ["a string for an integer", (ds) => { dep(ds).spec.replicas = "2"; },
     "/spec/replicas must be integer"],
    ["a bad quantity", (ds) => { ctr(ds).resources.limits.memory = "1 GB"; },
     "must match format \"quantity\""],
    ["an unknown kind", (ds) => { dep(ds).kind = "Deploymnet"; }, "no schema for apiVersion"],
    ["allowPrivilegeEscalation unset", (ds) => {
        delete ctr(ds).securityContext.allowPrivilegeEscalation;
    }, "allowPrivilegeEscalation: must be false"],
    ["runAsNonRoot unset", (ds) => {
        delete dep(ds).spec.template.spec.securityContext.runAsNonRoot;
        delete ctr(ds).securityContext.runAsNonRoot;
    }, "runAsNonRoot must be true"],
    ["runAsUser 0", (ds) => { dep(ds).spec.template.spec.securityContext.runAsUser = 0; },
     "runAsUser: 0 (root)"],
    ["seccomp Unconfined", (ds) => {
        dep(ds).spec.template.spec.securityContext.seccompProfile.type = "Unconfined";
        delete ctr(ds).securityContext.seccompProfile;
    }, "seccompProfile.type must be RuntimeDefault"],
    ["a hostPath volume", (ds) => {
        dep(ds).spec.template.spec.volumes.push({ name: "host", hostPath: { path: "/var" } });
    }, "hostPath volumes are not allowed"],
    ["an added capability", (ds) => { ctr(ds).securityContext.capabilities.add = ["SYS_ADMIN"]; },
     "capabilities.add: SYS_ADMIN"],
    ["a writable root filesystem", (ds) => { ctr(ds).securityContext.readOnlyRootFilesystem = false; },
     "readOnlyRootFilesystem: must be true"],
    ["no /tmp emptyDir", (ds) => {
        const c = ctr(ds);
        c.volumeMounts = c.volumeMounts.filter((m) => m.mountPath !== "/tmp");
    }, "/tmp must be a writable emptyDir mount"],
    ["one replica", (ds) => { dep(ds).spec.replicas = 1; }, "spec.replicas: 1"],
    ["no PodDisruptionBudget", (ds) => {
        ds.splice(ds.findIndex((d) => d.obj.kind === "PodDisruptionBudget"), 1);
    }, "no PodDisruptionBudget selects its pods"],
    ["no preStop pause", (ds) => { delete ctr(ds).lifecycle; }, "lifecycle.preStop: must pause"],
    ["grace period too short", (ds) => { dep(ds).spec.template.spec.terminationGracePeriodSeconds = 30; },
     "terminationGracePeriodSeconds 30: must exceed"],
    ["the database URL in the environment", (ds) => {
        ctr(ds).env.push({ name: "DATABASE_URL",
                           valueFrom: { secretKeyRef: { name: "ingestd", key: "database-url" } } });
    }, "env DATABASE_URL: pass secrets as files"],
    ["a _FILE path outside the secret mount", (ds) => {
        ctr(ds).env.find((e) => e.name === "DATABASE_URL_FILE").value = "/etc/database-url";
    }, "not under a mounted secret volume"],
    ["readiness on /healthz", (ds) => { ctr(ds).readinessProbe.httpGet.path = "/healthz"; },
     "readinessProbe: must be httpGet /readyz"],
    ["no memory limit", (ds) => { delete ctr(ds).resources.limits.memory; },
     "resources.limits.memory: missing"],
];

function selfTest(root) {
    const problems = [];
    const base = loadDocs(path.join(root, "deploy", "kubernetes"), problems);
    problems.push(...checkDocs(base, root));
    if (problems.length) {
        console.error("self-test: the manifests are not clean:\n  " + problems.join("\n  "));
        return 1;
    }
    let failed = 0;
    for (const [name, mutate, want] of FAULTS) {
        const docs = JSON.parse(JSON.stringify(base));
        mutate(docs);
        const got = checkDocs(docs, root);
        if (!got.some((m) => m.includes(want))) {
            console.error(`self-test: ${name}: not caught (want "${want}"), got:\n  ` +
                          (got.join("\n  ") || "(nothing)"));
            failed++;
        }
    }
    if (failed)
        return 1;
    console.log(`self-test: ${FAULTS.length} planted faults caught`);
    return 0;
}

function main(argv) {
    const self = argv[0] === "--self-test";
    const root = path.resolve(argv[self ? 1 : 0] || ".");
    if (self)
        return selfTest(root);
    const problems = [];
    const docs = loadDocs(path.join(root, "deploy", "kubernetes"), problems);
    problems.push(...checkDocs(docs, root));
    for (const p of problems)
        console.error(p);
    if (problems.length)
        return 1;
    const kinds = docs.map((d) => `${d.file}#${d.index} ${d.obj.kind}`).join(", ");
    console.log(`ok: ${docs.length} documents (${kinds}): schema (strict), restricted, ingestd rules`);
    return 0;
}

process.exitCode = main(process.argv.slice(2));
