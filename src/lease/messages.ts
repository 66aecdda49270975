import { EndReason, LeaseStatus, ProviderMessage, type RenterMessage } from './pb/lease.js'

/** A ProviderMessage with every field not given at its empty default. */
export function providerMessage(fields: Partial<ProviderMessage>): ProviderMessage {
  return {
    kind: ProviderMessage.Kind.KIND_UNSPECIFIED,
    status: LeaseStatus.OK,
    reason: '',
    ticksPaid: 0,
    paidUntilMs: 0n,
    total: new Uint8Array(),
    endReason: EndReason.END_REASON_UNSPECIFIED,
    ...fields,
  }
}

/** A RenterMessage of `kind` with every field not given at its empty default. */
export function renterMessage(kind: RenterMessage.Kind, fields: Partial<RenterMessage> = {}): RenterMessage {
  return {
    kind,
    commitment: new Uint8Array(),
    tick: new Uint8Array(),
    voucher: new Uint8Array(),
    reason: EndReason.END_REASON_UNSPECIFIED,
    ...fields,
  }
}

/** An end reason as `parkbench leases` and lease summaries show it: the name of its enum member. */
export function endReasonName(reason: EndReason): keyof typeof EndReason {
  return EndReason[reason] as unknown as keyof typeof EndReason
}
