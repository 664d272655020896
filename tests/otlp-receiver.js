#!/usr/bin/env node
// otlp-receiver.js - an OTLP/HTTP traces receiver on the loopback, for tests/otlp-tests.sh.
// It decodes with the OpenTelemetry project's own generated protobuf code (npm's
// @opentelemetry/otlp-transformer@0.52.1, build/src/generated/root.js), never ours.
//
//   otlp-receiver.js PORTFILE OUTDIR [STATUSES] [RETRY_AFTER]
//
// Listens on 127.0.0.1 (a port the kernel picks, written to PORTFILE) and takes POSTs
// until it is killed (or after 120 s). Each request is answered with the next of
// STATUSES (a comma list such as 503,503,200; 200 once they are used up); a 429 or 503
// carries `Retry-After: RETRY_AFTER` when it is given; a 400 carries a google.rpc.Status
// whose message is "bad request from the test". PARTIAL=N:MSG in the environment makes
// each 200 a partial success rejecting N spans.
// TLS_DIR=DIR in the environment serves HTTPS with DIR/server.pem and DIR/server.key,
// and asks for a client certificate signed by DIR/ca.pem (mutual TLS; a client without
// one is refused at the handshake).
//
// Each request becomes OUTDIR/request-<n>.json (n from 1), and its body (gunzip'd)
// OUTDIR/request-<n>.body: its path, headers, arrival
// time (ms since the receiver started), the status answered and, for the ones answered
// 200, the trace decoded and normalized - ids in lowercase hex, attributes as a map
// (ints as numbers, doubles as {"double": x}, arrays as lists), times as decimal strings -
// the same for protobuf and JSON bodies. A body that does not decode is answered 400 and
// its error written as "error". OTLP/JSON is held to the spec: hex ids, 64-bit integers as
// strings, enums as integers, only the proto's lowerCamelCase keys.
"use strict";
const http = require("http");
const https = require("https");
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const root = require("@opentelemetry/otlp-transformer/build/src/generated/root.js");
const $protobuf = require("protobufjs/minimal");

const [portfile, outdir, statusArg, retryAfter] = process.argv.slice(2);
const statuses = (statusArg || "").split(",").filter((s) => s !== "").map(Number);
const v1 = root.opentelemetry.proto;
const Req = v1.collector.trace.v1.ExportTraceServiceRequest;
const Resp = v1.collector.trace.v1.ExportTraceServiceResponse;
const started = Date.now();
let count = 0;

const hex = (b) => Buffer.from(b || []).toString("hex");
const long = (v) => (v === undefined || v === null ? "0" : v.toString());

function value(v) {
    if (v === null || v === undefined) return null;
    if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
    if (v.intValue !== undefined && v.intValue !== null) {
        const s = v.intValue.toString();
        return Number.isSafeInteger(Number(s)) ? Number(s) : s;
    }
    if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
    if (v.doubleValue !== undefined && v.doubleValue !== null) return { double: v.doubleValue };
    if (v.arrayValue) return (v.arrayValue.values || []).map(value);
    if (v.kvlistValue) return { kvlist: attrs(v.kvlistValue.values) };
    if (v.bytesValue) return { bytes: hex(v.bytesValue) };
    return null;
}

function attrs(list) {
    const out = {};
    for (const kv of list || []) {
        if (kv.key in out) throw new Error(`attribute ${kv.key} twice`);
        out[kv.key] = value(kv.value);
    }
    return out;
}

function normalize(req) {
    const err = Req.verify(req);
    if (err) throw new Error("verify: " + err);
    return (req.resourceSpans || []).map((rs) => ({
        resource: attrs(rs.resource && rs.resource.attributes),
        scopeSpans: (rs.scopeSpans || []).map((ss) => ({
            scope: { name: ss.scope && ss.scope.name, version: ss.scope && ss.scope.version },
            spans: (ss.spans || []).map((s) => ({
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                traceState: s.traceState || "",
                name: s.name,
                kind: s.kind,
                start: long(s.startTimeUnixNano),
                end: long(s.endTimeUnixNano),
                attributes: attrs(s.attributes),
                status: { code: (s.status && s.status.code) || 0, message: (s.status && s.status.message) || "" },
            })),
        })),
    }));
}

// OTLP/JSON's rules, checked before the JSON is turned into the proto's message.
const jsonFields = {
    Req: { resourceSpans: "ResourceSpans" },
    ResourceSpans: { resource: "Resource", scopeSpans: "ScopeSpans", schemaUrl: null },
    Resource: { attributes: "KeyValue", droppedAttributesCount: null },
    ScopeSpans: { scope: "Scope", spans: "Span", schemaUrl: null },
    Scope: { name: null, version: null, attributes: "KeyValue", droppedAttributesCount: null },
    KeyValue: { key: null, value: "AnyValue" },
    AnyValue: { stringValue: null, boolValue: null, intValue: "int64", doubleValue: null,
                arrayValue: "ArrayValue", kvlistValue: "KvList", bytesValue: null },
    ArrayValue: { values: "AnyValue" },
    KvList: { values: "KeyValue" },
    Span: { traceId: "hex16", spanId: "hex8", parentSpanId: "hex8", traceState: null, name: null,
            kind: "enum", startTimeUnixNano: "int64", endTimeUnixNano: "int64", attributes: "KeyValue",
            droppedAttributesCount: null, events: null, droppedEventsCount: null, links: null,
            droppedLinksCount: null, status: "Status", flags: null },
    Status: { message: null, code: "enum" },
};

function checkJson(obj, type, where) {
    if (typeof obj !== "object" || obj === null || Array.isArray(obj))
        throw new Error(`${where}: an object expected`);
    for (const [k, v] of Object.entries(obj)) {
        if (!(k in jsonFields[type])) throw new Error(`${where}: unknown key ${k}`);
        const t = jsonFields[type][k];
        if (t === null) continue;
        if (t === "int64") {
            if (typeof v !== "string" || !/^-?[0-9]+$/.test(v))
                throw new Error(`${where}.${k}: a 64-bit integer must be a decimal string`);
        } else if (t === "enum") {
            if (!Number.isInteger(v)) throw new Error(`${where}.${k}: an enum must be an integer`);
        } else if (t === "hex16" || t === "hex8") {
            const n = t === "hex16" ? 32 : 16;
            if (typeof v !== "string" || !new RegExp(`^[0-9a-fA-F]{${n}}$`).test(v))
                throw new Error(`${where}.${k}: ${n} hex digits expected`);
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => checkJson(x, t, `${where}.${k}[${i}]`));
        } else if (["resource", "scope", "value", "arrayValue", "kvlistValue", "status"].includes(k)) {
            checkJson(v, t, `${where}.${k}`);
        } else {
            throw new Error(`${where}.${k}: an array expected`);
        }
    }
}

function fromJson(text) {
    const obj = JSON.parse(text);
    checkJson(obj, "Req", "$");
    // The ids are hex in OTLP/JSON, bytes in the proto.
    for (const rs of obj.resourceSpans || [])
        for (const ss of rs.scopeSpans || [])
            for (const s of ss.spans || [])
                for (const k of ["traceId", "spanId", "parentSpanId"])
                    if (k in s) s[k] = Buffer.from(s[k], "hex");
    // Through the proto's encoder and back: what a protobuf body would decode to.
    const msg = Req.fromObject(obj);
    return Req.decode(Req.encode(msg).finish());
}

function rpcStatus(code, message) {
    return $protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message).finish();
}

const tlsDir = process.env.TLS_DIR;
const handler = (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        count++;
        let body = Buffer.concat(chunks);
        const status = count <= statuses.length ? statuses[count - 1] : 200;
        const rec = {
            n: count, method: req.method, path: req.url, headers: req.headers,
            ms: Date.now() - started, epoch_ms: Date.now(), status, bytes: body.length,
        };
        const json = (req.headers["content-type"] || "").startsWith("application/json");
        let decoded = null;
        try {
            if (req.headers["content-encoding"] === "gzip") body = zlib.gunzipSync(body);
            else if (req.headers["content-encoding"]) throw new Error("unknown content-encoding");
            fs.writeFileSync(path.join(outdir, `request-${count}.body`), body);
            decoded = json ? fromJson(body.toString("utf8")) : Req.decode(body);
            rec.trace = normalize(decoded);
        } catch (e) {
            rec.error = String(e && e.message ? e.message : e);
        }
        if (req.socket.getPeerCertificate) {
            const peer = req.socket.getPeerCertificate();
            rec.client_cn = peer && peer.subject ? peer.subject.CN : null;
        }
        let answer = rec.error ? 400 : status;
        rec.status = answer;
        fs.writeFileSync(path.join(outdir, `request-${count}.json`), JSON.stringify(rec, null, 1));
        const headers = { "Content-Type": json ? "application/json" : "application/x-protobuf" };
        if ((answer === 429 || answer === 503) && retryAfter) headers["Retry-After"] = retryAfter;
        let out;
        if (answer === 200) {
            const partial = process.env.PARTIAL;
            const m = partial ? partial.match(/^([0-9]+):(.*)$/) : null;
            const r = m ? { partialSuccess: { rejectedSpans: Number(m[1]), errorMessage: m[2] } } : {};
            out = json ? Buffer.from(JSON.stringify(m ? { partialSuccess: { rejectedSpans: m[1], errorMessage: m[2] } } : {}))
                       : Buffer.from(Resp.encode(Resp.fromObject(r)).finish());
        } else if (answer === 400) {
            const msg = rec.error ? "the body does not decode: " + rec.error : "bad request from the test";
            out = json ? Buffer.from(JSON.stringify({ code: 3, message: msg })) : Buffer.from(rpcStatus(3, msg));
        } else {
            out = json ? Buffer.from("{}") : Buffer.from(rpcStatus(14, "unavailable"));
        }
        res.writeHead(answer, headers);
        res.end(out);
    });
};
const server = tlsDir
    ? https.createServer({
          cert: fs.readFileSync(path.join(tlsDir, "server.pem")),
          key: fs.readFileSync(path.join(tlsDir, "server.key")),
          ca: fs.readFileSync(path.join(tlsDir, "ca.pem")),
          requestCert: true,
          rejectUnauthorized: true,
      }, handler)
    : http.createServer(handler);

server.listen(0, "127.0.0.1", () => {
    fs.writeFileSync(portfile + ".tmp", String(server.address().port));
    fs.renameSync(portfile + ".tmp", portfile);
});
setTimeout(() => process.exit(0), 120000).unref();
process.on("SIGTERM", () => process.exit(0));
