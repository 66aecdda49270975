import { DATA_DIR_LAYOUT } from '../data-dir.js'

/** EIP-712 domain name and version of PaymentChannel.sol. */
export const EIP712_DOMAIN_NAME = 'ParkbenchPaymentChannel'
export const EIP712_DOMAIN_VERSION = '1'

/** The contract's floor on the challenge window (MIN_CHALLENGE_PERIOD): a deployment with less reverts. */
export const MIN_CHALLENGE_PERIOD_SECONDS = 3_600n

/** Challenge window of a dev-chain deployment: the contract's minimum; tests skip it with evm_increaseTime. */
export const DEV_CHALLENGE_PERIOD_SECONDS = MIN_CHALLENGE_PERIOD_SECONDS

/** Deploying elsewhere: a day gives a provider that is offline for hours time to answer a close request. */
export const DEFAULT_CHALLENGE_PERIOD_SECONDS = 86_400n

/** Largest amount the contract stores (uint128); larger values are malformed. */
export const MAX_AMOUNT = (1n << 128n) - 1n

/** Largest maxTicks of one commitment on the wire (about 12 days at one tick per second); bounds the renter's chain. */
export const MAX_TICKS = 1_048_576

/**
 * The most ticks one commitment may cover for a provider to accept it (default): an on-chain tick proof hashes at
 * most this many times, so it always settles for at most ~402,000 gas with keccak256 (about 1% of a 30M-gas block).
 * Longer leases renew or re-anchor. Configurable per receiver (`maxTicks`).
 */
export const MAX_PROOF_TICKS = 3_600

/** Chain config file name inside a data dir. */
export const CHAIN_CONFIG_FILE = DATA_DIR_LAYOUT.chainConfig

/** EVM key file name inside a data dir. */
export const EVM_KEY_FILE = DATA_DIR_LAYOUT.evmKey

/** Payment store folder inside a data dir. */
export const PAYMENT_STORE_DIR = DATA_DIR_LAYOUT.providerPayments

/** Environment variables the CLI and daemon read. */
export const PRIVATE_KEY_ENV = 'PARKBENCH_PRIVATE_KEY'
export const CHAIN_CONFIG_ENV = 'PARKBENCH_CHAIN'
