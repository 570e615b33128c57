// Node (ESM) entry of @portcullis/permissions: the `--target nodejs` build, which loads its
// .wasm synchronously when first imported. `init`/`initSync` are no-ops here so that code
// written for the browser build (`await init()`) runs unchanged in Node.
import bindings from "./node/portcullis_permissions.js";

export const { Permissions, can } = bindings;

/** Nothing to do in Node: the module is ready once imported. */
export default async function init() {}

/** Nothing to do in Node: the module is ready once imported. */
export function initSync() {}
