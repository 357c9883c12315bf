// Reads every group and dataset of an HDF5 file with jsfive (a pure
// JavaScript reader, independent of libhdf5) and prints
// {path: {attrs, shape, value}} as JSON, or {error} where jsfive fails.
// Usage: node dump.mjs FILE
import * as hdf5 from "jsfive";
import fs from "fs";

const buf = fs.readFileSync(process.argv[2]);
const f = new hdf5.File(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), "f.h5");
const out = {};
function plain(v) {
	if (ArrayBuffer.isView(v)) return Array.from(v, (x) => (typeof x === "bigint" ? Number(x) : x));
	if (typeof v === "bigint") return Number(v);
	return v;
}
function attrs(o) {
	const a = {};
	try {
		for (const [k, v] of Object.entries(o.attrs)) a[k] = plain(v);
	} catch (e) {
		return { error: String(e.message || e) };
	}
	return a;
}
function walk(g, p) {
	out[p || "/"] = { attrs: attrs(g) };
	for (const k of g.keys) {
		const path = p + "/" + k;
		let o;
		try {
			o = g.get(k);
		} catch (e) {
			out[path] = { error: String(e.message || e) };
			continue;
		}
		if (o instanceof hdf5.Group) {
			walk(o, path);
			continue;
		}
		const e = { attrs: attrs(o), shape: o.shape };
		try {
			e.value = plain(o.value);
		} catch (err) {
			e.error = String(err.message || err);
		}
		out[path] = e;
	}
}
walk(f, "");
console.log(JSON.stringify(out));
