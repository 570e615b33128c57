export { Permissions, can } from "./node/portcullis_permissions.js";
export type { PermissionsAnswer, FieldVisibility } from "./node/portcullis_permissions.js";

/** Nothing to do in Node (the module is ready once imported); kept for code shared with browsers. */
export default function init(): Promise<void>;
/** Nothing to do in Node (the module is ready once imported); kept for code shared with browsers. */
export function initSync(): void;
