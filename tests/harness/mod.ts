/**
 * Test harness for registry-client tests: real registry in four modes, token server, image pushes,
 * fault-injecting proxy and a recording far-end server.
 * @module
 */

export * from "./registry.ts";
export * from "./token_server.ts";
export * from "./images.ts";
export * from "./fault_proxy.ts";
export * from "./recording_server.ts";
export * from "./scheme_recorder.ts";
