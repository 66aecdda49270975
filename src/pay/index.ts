/**
 * @packageDocumentation
 *
 * parkbench payments: one-way payment channels renter -> provider on an EVM chain (PaymentChannel.sol, ETH or any
 * ERC-20), paid per second off-chain with a hash chain (PayWord) and periodic EIP-712 vouchers.
 *
 * Renter:
 * ```ts
 * const account = await resolveEvmAccount({ dataDir })
 * const chain = await loadChainConfig({ dataDir })
 * const wallet = createPayWalletClient(chain, account)
 * const { channelId } = await openChannel(wallet, { contract: chain.contract, provider, amount: 10n ** 16n })
 * const store = await createPaymentStore({ path: join(dataDir, PAYMENT_STORE_DIR) })
 * const sender = createPaymentSender({ store, account }, chain)
 * await sender.start()
 * const commitment = await sender.startLease({ channelId, amountPerTick: 10n ** 12n, maxTicks: 3600 })
 * // send `commitment`, then once a second:
 * const { tick, voucher } = await sender.nextTick(commitment.commitment.leaseId)
 * // at lease end:
 * const finalVoucher = await sender.endLease(commitment.commitment.leaseId)
 * ```
 *
 * Provider:
 * ```ts
 * const channels = new ChannelStateCache({ client: createPayPublicClient(chain) }, { contract: chain.contract })
 * const receiver = createPaymentReceiver({ store, channels }, { ...chain, provider: account.address })
 * await receiver.start()
 * await receiver.acceptCommitment(commitment, { channelId })      // typed error per failed check
 * await receiver.acceptTick(leaseId, tick.preimage)               // one hash + a group-committed durable write
 * await receiver.acceptVoucher(voucher, { channelId })
 * const settler = createSettler({ receiver, store, channels, wallet }, { contract: chain.contract, threshold })
 * await settler.start()                                           // answers close requests, settles by threshold
 * ```
 *
 * Dev chain (tests, demo, swarms): `const chain = await startDevChain()` ... `await chain.stop()`.
 */

export {
  type RequestCloseParameters,
  type RequestCloseReturnType,
  requestClose,
  type WithdrawChannelParameters,
  type WithdrawChannelReturnType,
  withdrawChannel,
} from './actions/close-channel.js'
export {
  type DeployDevTokenParameters,
  type DeployPaymentChannelParameters,
  type DeployReturnType,
  deployDevToken,
  deployPaymentChannel,
} from './actions/deploy.js'
export {
  DETERMINISTIC_DEPLOYER,
  type DeployDeterministicReturnType,
  type DeterministicPaymentChannelParameters,
  deployPaymentChannelDeterministic,
  deterministicPaymentChannelAddress,
  PAYMENT_CHANNEL_SALT,
  paymentChannelInitCode,
} from './actions/deploy-deterministic.js'
export {
  type EstimateSettleParameters,
  type EstimateSettleReturnType,
  estimateSettle,
  getSettleFeesPerGas,
  type SettleFeesPerGas,
} from './actions/estimate-settle.js'
export {
  type GetChannelParameters,
  type GetChannelReturnType,
  getChallengePeriod,
  getChannel,
} from './actions/get-channel.js'
export {
  type GetTokenUnitsParameters,
  type GetTokenUnitsReturnType,
  getTokenUnits,
} from './actions/get-token-units.js'
export { feesToSend } from './actions/internal.js'
export {
  type ListChannelsParameters,
  type ListChannelsReturnType,
  type ListedChannel,
  listChannels,
} from './actions/list-channels.js'
export {
  ensureAllowance,
  type OpenChannelOptions,
  type OpenChannelParameters,
  type OpenChannelReturnType,
  openChannel,
} from './actions/open-channel.js'
export {
  type SettleOptions,
  type SettleProofParameters,
  type SettleReturnType,
  type SettleTicksParameters,
  type SettleVoucherParameters,
  settleCall,
  settleProof,
  settleTicks,
  settleVoucher,
} from './actions/settle-channel.js'
export { type TopUpChannelParameters, type TopUpChannelReturnType, topUpChannel } from './actions/top-up-channel.js'
export {
  type ChainIdentity,
  chainIdentityOf,
  type VerifyPaymentContractParameters,
  type VerifyPaymentContractReturnType,
  verifyPaymentContract,
} from './actions/verify-contract.js'
export {
  formatAmount,
  formatRate,
  formatUnits,
  InvalidAmountError,
  NATIVE_UNITS,
  parseAmount,
  parseRate,
  type TokenUnits,
  tokenUnits,
} from './amounts.js'
export {
  type ChainConfig,
  chainConfigPath,
  type LoadChainConfigOptions,
  loadChainConfig,
  readChainConfig,
  saveChainConfig,
} from './chain-config.js'
export {
  ChannelStateCache,
  type ChannelStateCacheComponents,
  type ChannelStateCacheInit,
} from './channel-state-cache.js'
export {
  chainFromConfig,
  createPayPublicClient,
  createPayWalletClient,
  type PayPublicClient,
  type PayWalletClient,
} from './clients.js'
export {
  CHAIN_CONFIG_ENV,
  CHAIN_CONFIG_FILE,
  DEFAULT_CHALLENGE_PERIOD_SECONDS,
  DEV_CHALLENGE_PERIOD_SECONDS,
  EVM_KEY_FILE,
  MAX_AMOUNT,
  MAX_PROOF_TICKS,
  MAX_TICKS,
  MIN_CHALLENGE_PERIOD_SECONDS,
  PAYMENT_STORE_DIR,
  PRIVATE_KEY_ENV,
} from './constants.js'
export {
  DEV_CHAIN_ID,
  DEV_MNEMONIC,
  type DevAccount,
  type DevChain,
  type DevChainOptions,
  devAccounts,
  devChainConfig,
  findAnvil,
  fundDevAccount,
  startDevChain,
} from './dev-chain.js'
export {
  HASH_FUNCTION_IDS,
  hashTickCommitment,
  hashVoucher,
  isCanonicalSignature,
  normalizeSignature,
  paymentDomain,
  recoverTickCommitmentSigner,
  recoverVoucherSigner,
  signTickCommitment,
  signVoucher,
  TICK_COMMITMENT_TYPES,
  tickCommitmentStruct,
  VOUCHER_TYPES,
} from './eip712.js'
export * from './errors.js'
export { loadOrCreateEvmKey, type ResolveEvmAccountOptions, resolveEvmAccount } from './evm-key.js'
export { HashChain, hashRepeated, hashStep, verifyTickPreimage } from './hash-chain.js'
export { CloseRequestScanner, isLogRangeError } from './log-scan.js'
export {
  amountFromBytes,
  amountToBytes,
  decodeSignedTickCommitment,
  decodeTick,
  decodeVoucher,
  encodeSignedTickCommitment,
  encodeTick,
  encodeVoucher,
  MAX_PAYMENT_MESSAGE_BYTES,
  signedTickCommitmentFromPb,
  signedTickCommitmentToPb,
  tickFromPb,
  tickToPb,
  voucherFromPb,
  voucherToPb,
} from './messages.js'
export { NETWORKS, type NetworkPreset, networkChainConfig, networkPreset, PAYMENT_CHANNEL_ADDRESS } from './networks.js'
export {
  type AcceptedPayment,
  type AcceptedTick,
  type CommitmentExpectation,
  createPaymentReceiver,
  PaymentReceiver,
  type PaymentReceiverComponents,
  type PaymentReceiverInit,
} from './payment-receiver.js'
export {
  createPaymentSender,
  type NextTick,
  PaymentSender,
  type PaymentSenderComponents,
  type PaymentSenderInit,
  type StartLeaseParameters,
} from './payment-sender.js'
export {
  type EarlierPaymentState,
  openProviderPayments,
  openRenterPayments,
  type PaymentStateInit,
  type ProviderPayments,
  type ProviderPaymentsInit,
  type RenterPayments,
  type RenterPaymentsInit,
} from './payment-state.js'
export { createPaymentStore, PaymentStore, type PaymentStoreInit, type StoreOperation } from './payment-store.js'
export { providerNodeId } from './provider-node.js'
export {
  DEFAULT_MIN_GAIN_OVER_GAS,
  decideSettlement,
  type GasMultiplier,
  type Ratio,
  type SettleDecision,
  type SkipCause,
} from './settle-policy.js'
export {
  type ChannelEarnings,
  type Earnings,
  type SettlementRecord,
  summarizeEarnings,
  type TokenEarnings,
  type WriteOff,
} from './settlement-ledger.js'
export {
  createSettler,
  type PendingSettlement,
  type SettlementResult,
  type SettleNowOptions,
  type SettleReason,
  type SettleReport,
  Settler,
  type SettlerComponents,
  type SettlerEvent,
  type SettlerInit,
  type SkippedSettlement,
} from './settler.js'
export { PaymentStatus, paymentAck, paymentStatusOf, readPaymentAck } from './status.js'
export type {
  ChannelState,
  HashFunctionName,
  PaymentProof,
  SignedTickCommitment,
  Tick,
  TickCommitment,
  Voucher,
} from './types.js'
