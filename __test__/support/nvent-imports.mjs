// Stand-in for the `#imports` that nvent provides to its adapters, so the published 0.5.15
// adapter can be loaded outside a Nuxt app. Only what adapter.js uses is here.
export function createStoreValidator(name) {
  return {
    validateUpdatePayload(payload, op) {
      for (const key of Object.keys(payload ?? {})) {
        if (key.includes('.')) throw new Error(`[${name}] ${op}: keys must not contain dots (${key})`)
      }
    },
  }
}
export const useRuntimeConfig = () => ({})
export const registerStoreAdapter = () => {}
export const defineNitroPlugin = (plugin) => plugin
