// Reads arrays of a zarr v3 store with zarrita (an independent reader) and
// prints {path: {shape, dtype, hex | strings, attrs}} as JSON. Numbers come
// back as little-endian bytes (zarrita decodes to native typed arrays).
// Usage: node dump.mjs STORE PATH...
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";

const [store, ...paths] = process.argv.slice(2);
const root = zarr.root(new FileSystemStore(store));
const out = {};
for (const p of paths) {
	try {
		const node = await zarr.open.v3(root.resolve(p));
		if (!(node instanceof zarr.Array)) {
			out[p] = { attrs: node.attrs };
			continue;
		}
		// zarrita's get() returns a bare scalar for 0-d arrays and fails on
		// empty ones: read the only chunk directly, or report no data.
		if (node.shape.some((d) => d === 0)) {
			out[p] = { shape: node.shape, dtype: node.dtype, attrs: node.attrs, hex: "" };
			continue;
		}
		const chunk = node.shape.length === 0 ? await node.getChunk([]) : await zarr.get(node);
		const d = { shape: chunk.shape, dtype: node.dtype, attrs: node.attrs };
		const data = chunk.data;
		if (Array.isArray(data)) {
			d.strings = data;
		} else if (data instanceof zarr.BoolArray) {
			d.hex = Buffer.from(data.buffer ?? new Uint8Array(Array.from(data, (b) => (b ? 1 : 0))).buffer).toString("hex");
		} else {
			d.hex = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex");
		}
		out[p] = d;
	} catch (e) {
		out[p] = { error: String(e && e.stack ? e.stack : e) };
	}
}
process.stdout.write(JSON.stringify(out));
