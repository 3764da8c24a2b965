import { CosignError } from "../errors.ts";
import { type AttachmentLayer, loadLayers, type PendingLayer } from "./attachments.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Pending layers of these sizes whose loads record how many bytes are held at once. */
function fakeLayers(sizes: number[], fail: Set<number> = new Set()) {
  let held = 0;
  let peakHeld = 0;
  let peakLoading = 0;
  let loading = 0;
  const layers: PendingLayer[] = sizes.map((size, i) => {
    const descriptor = { mediaType: "x", digest: `sha256:${String(i).padStart(64, "0")}`, size };
    return {
      descriptor,
      annotations: {},
      load: async (): Promise<AttachmentLayer> => {
        loading++;
        peakLoading = Math.max(peakLoading, loading);
        held += size;
        peakHeld = Math.max(peakHeld, held);
        await new Promise((r) => setTimeout(r, 1));
        loading--;
        if (fail.has(i)) {
          held -= size;
          throw new CosignError("DIGEST_MISMATCH", `layer ${i} is corrupt`);
        }
        return { descriptor, annotations: {}, payload: new Uint8Array(0) };
      },
    };
  });
  return {
    layers,
    release: (size: number) => (held -= size),
    peaks: () => ({ held: peakHeld, loading: peakLoading }),
  };
}

Deno.test("loadLayers: in order, at most `concurrency` loading, bytes held within the budget", async () => {
  const sizes = [10, 10, 10, 10, 10, 10, 10, 10];
  const f = fakeLayers(sizes);
  const seen: number[] = [];
  for await (const got of loadLayers(f.layers, { concurrency: 3, maxBytesInFlight: 20 })) {
    assert(got.layer, "every layer loads");
    seen.push(f.layers.indexOf(got.pending));
    await new Promise((r) => setTimeout(r, 2)); // the consumer works on it
    f.release(got.pending.descriptor.size);
  }
  assert(JSON.stringify(seen) === JSON.stringify([0, 1, 2, 3, 4, 5, 6, 7]), `order ${seen}`);
  assert(f.peaks().loading <= 3, `at most 3 loading, saw ${f.peaks().loading}`);
  assert(f.peaks().held <= 20, `at most 20 bytes held, saw ${f.peaks().held}`);
});

Deno.test("loadLayers: a layer larger than the budget is loaded alone; faults are skipped", async () => {
  const f = fakeLayers([100, 5, 100, 5], new Set([1]));
  const skipped: string[] = [];
  for await (const got of loadLayers(f.layers, { concurrency: 4, maxBytesInFlight: 50 })) {
    if (got.skipped) skipped.push(got.skipped.reason);
    else f.release(got.pending.descriptor.size);
  }
  assert(f.peaks().held <= 105, `one big layer at a time, saw ${f.peaks().held} bytes held`);
  assert(skipped.length === 1 && /layer 1 is corrupt/.test(skipped[0]!), `skipped ${skipped}`);
});

Deno.test("loadLayers: a failure that is no layer fault (the registry is gone) is thrown", async () => {
  const layers: PendingLayer[] = [{
    descriptor: { mediaType: "x", digest: `sha256:${"0".repeat(64)}`, size: 1 },
    annotations: {},
    load: () => Promise.reject(new CosignError("REGISTRY_UNAVAILABLE", "gone")),
  }];
  let thrown: unknown;
  try {
    for await (const _ of loadLayers(layers)) { /* nothing */ }
  } catch (e) {
    thrown = e;
  }
  assert(thrown instanceof CosignError && thrown.code === "REGISTRY_UNAVAILABLE", `${thrown}`);
});
