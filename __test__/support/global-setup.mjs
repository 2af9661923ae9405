// One throwaway redis-server for the whole run, unless REDIS_URL points at one.
import { startRedis } from '../../scripts/redis-server.mjs'

export default async function setup({ provide }) {
  if (process.env.REDIS_URL) {
    provide('redisUrl', process.env.REDIS_URL)
    return
  }
  const server = await startRedis()
  provide('redisUrl', server.url)
  return () => server.stop()
}
