// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IERC20Minimal {
    function balanceOf(address account) external view returns (uint256);
}

/**
 * @title parkbench payment channels
 * @notice Many one-way channels renter -> provider, in native ETH (token == address(0)) or any ERC-20.
 * One cumulative counter per channel: the renter signs "I have authorised `total` to the provider on this channel"
 * and the contract pays `total - settled`, so a proof can never be paid twice and never pays past the deposit.
 * Proofs: an EIP-712 voucher, or a signed tick commitment (PayWord hash chain) plus the k-th preimage.
 * Renter exit: requestClose, a challenge window in which the provider may still settle its best proof, withdraw.
 * A channel is bound to one provider node (`providerNode`, keccak256 of its libp2p peer id bytes) as well as to the
 * payout address: several nodes sharing one payout key each get channels of their own, so the one cumulative counter
 * per channel can never be spent twice by parallel leases on two nodes.
 */
contract PaymentChannel {
    struct Channel {
        address renter;
        // Seconds since epoch of the renter's close request; 0 while the channel is open.
        uint64 closeRequestedAt;
        address provider;
        // keccak256 of the provider node's libp2p peer id (multihash bytes): the one node that serves this channel.
        bytes32 providerNode;
        // address(0) for native ETH.
        address token;
        uint128 deposit;
        uint128 settled;
    }

    /// A renter-signed promise, at lease start, to pay `baseAmount + k * amountPerTick` for the k-th preimage of
    /// the hash chain ending in `tip` (k from 1 to maxTicks).
    struct TickCommitment {
        bytes32 channelId;
        bytes32 leaseId;
        bytes32 tip;
        uint8 hashFunction;
        uint256 amountPerTick;
        uint256 baseAmount;
        uint32 maxTicks;
    }

    uint8 public constant HASH_KECCAK256 = 0;
    uint8 public constant HASH_SHA256 = 1;

    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 total)");
    bytes32 public constant TICK_COMMITMENT_TYPEHASH = keccak256(
        "TickCommitment(bytes32 channelId,bytes32 leaseId,bytes32 tip,uint8 hashFunction,uint256 amountPerTick,uint256 baseAmount,uint32 maxTicks)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("ParkbenchPaymentChannel");
    bytes32 private constant VERSION_HASH = keccak256("1");
    // Upper bound of a canonical ECDSA s value (secp256k1n / 2): rejects malleable signatures.
    uint256 private constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// The shortest challenge window a deployment may have: a provider must have time to see a close request.
    uint256 public constant MIN_CHALLENGE_PERIOD = 1 hours;

    /// Seconds between a renter's close request and the moment it may withdraw.
    uint256 public immutable challengePeriod;

    mapping(bytes32 => Channel) private channels;
    uint256 public channelCount;
    uint256 private lock = 1;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed renter,
        address indexed provider,
        bytes32 providerNode,
        address token,
        uint256 deposit
    );
    event ChannelToppedUp(bytes32 indexed channelId, uint256 amount, uint256 deposit);
    event ChannelSettled(bytes32 indexed channelId, uint256 total, uint256 paid, bool byTicks);
    event CloseRequested(bytes32 indexed channelId, uint256 deadline);
    event ChannelWithdrawn(bytes32 indexed channelId, uint256 refund);

    error ChannelNotFound();
    error NotRenter();
    error NotProvider();
    error ChannelClosing();
    error ChannelNotClosing();
    error ChallengeWindowOver();
    error ChallengeWindowOpen();
    error AmountNotIncreasing();
    error AmountExceedsDeposit();
    error InvalidSignature();
    error InvalidPreimage();
    error TickOutOfRange();
    error UnknownHashFunction();
    error InvalidDeposit();
    error TransferFailed();
    error Reentrancy();
    error ChallengePeriodTooShort();

    modifier nonReentrant() {
        if (lock != 1) revert Reentrancy();
        lock = 2;
        _;
        lock = 1;
    }

    constructor(uint256 challengePeriod_) {
        if (challengePeriod_ < MIN_CHALLENGE_PERIOD) revert ChallengePeriodTooShort();
        challengePeriod = challengePeriod_;
    }

    // ----------------------------------------------------------------------------------------------------------
    // Renter
    // ----------------------------------------------------------------------------------------------------------

    /// Open a channel to `provider`'s node `providerNode` holding `amount` of `token` (address(0): ETH, sent as
    /// msg.value).
    function open(address provider, bytes32 providerNode, address token, uint256 amount)
        external
        payable
        nonReentrant
        returns (bytes32 channelId)
    {
        if (provider == address(0) || provider == msg.sender || providerNode == bytes32(0)) revert NotProvider();
        uint256 received = _pull(token, amount);
        if (received == 0 || received > type(uint128).max) revert InvalidDeposit();
        channelId =
            keccak256(abi.encode(block.chainid, address(this), msg.sender, provider, providerNode, token, channelCount));
        channelCount += 1;
        channels[channelId] = Channel({
            renter: msg.sender,
            closeRequestedAt: 0,
            provider: provider,
            providerNode: providerNode,
            token: token,
            deposit: uint128(received),
            settled: 0
        });
        emit ChannelOpened(channelId, msg.sender, provider, providerNode, token, received);
    }

    /// Add `amount` to an open channel's deposit.
    function topUp(bytes32 channelId, uint256 amount) external payable nonReentrant {
        Channel storage ch = _existing(channelId);
        if (msg.sender != ch.renter) revert NotRenter();
        if (ch.closeRequestedAt != 0) revert ChannelClosing();
        uint256 received = _pull(ch.token, amount);
        uint256 deposit = uint256(ch.deposit) + received;
        if (received == 0 || deposit > type(uint128).max) revert InvalidDeposit();
        ch.deposit = uint128(deposit);
        emit ChannelToppedUp(channelId, received, deposit);
    }

    /// Start the challenge window; after it the renter may withdraw whatever was not settled.
    function requestClose(bytes32 channelId) external {
        Channel storage ch = _existing(channelId);
        if (msg.sender != ch.renter) revert NotRenter();
        if (ch.closeRequestedAt != 0) revert ChannelClosing();
        ch.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, block.timestamp + challengePeriod);
    }

    /// After the challenge window: refund `deposit - settled` to the renter and delete the channel.
    function withdraw(bytes32 channelId) external nonReentrant {
        Channel storage ch = _existing(channelId);
        if (msg.sender != ch.renter) revert NotRenter();
        if (ch.closeRequestedAt == 0) revert ChannelNotClosing();
        if (block.timestamp < uint256(ch.closeRequestedAt) + challengePeriod) revert ChallengeWindowOpen();
        uint256 refund = uint256(ch.deposit) - uint256(ch.settled);
        address renter = ch.renter;
        address token = ch.token;
        delete channels[channelId];
        emit ChannelWithdrawn(channelId, refund);
        _push(token, renter, refund);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Provider
    // ----------------------------------------------------------------------------------------------------------

    /// Settle a renter-signed cumulative voucher. The channel stays open for reuse.
    function settle(bytes32 channelId, uint256 total, bytes calldata signature) external nonReentrant {
        Channel storage ch = _settleable(channelId);
        bytes32 digest = _digest(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, total)));
        if (_recover(digest, signature) != ch.renter) revert InvalidSignature();
        _pay(channelId, ch, total, false);
    }

    /// Settle `ticks` seconds of a lease: `preimage` hashed `ticks` times must give the signed commitment's tip.
    function settleTicks(TickCommitment calldata c, bytes calldata signature, bytes32 preimage, uint32 ticks)
        external
        nonReentrant
    {
        Channel storage ch = _settleable(c.channelId);
        if (_recover(_digest(hashTickCommitment(c)), signature) != ch.renter) revert InvalidSignature();
        if (ticks == 0 || ticks > c.maxTicks) revert TickOutOfRange();
        if (hashChain(c.hashFunction, preimage, ticks) != c.tip) revert InvalidPreimage();
        _pay(c.channelId, ch, c.baseAmount + uint256(ticks) * c.amountPerTick, true);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------------------------

    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return channels[channelId];
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function hashTickCommitment(TickCommitment calldata c) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TICK_COMMITMENT_TYPEHASH,
                c.channelId,
                c.leaseId,
                c.tip,
                c.hashFunction,
                c.amountPerTick,
                c.baseAmount,
                c.maxTicks
            )
        );
    }

    /// Apply the chain's hash `times` times. Scratch space only, so the cost per step stays flat.
    function hashChain(uint8 hashFunction, bytes32 value, uint256 times) public view returns (bytes32 result) {
        if (hashFunction == HASH_KECCAK256) {
            assembly {
                mstore(0, value)
                for { let i := 0 } lt(i, times) { i := add(i, 1) } { mstore(0, keccak256(0, 32)) }
                result := mload(0)
            }
        } else if (hashFunction == HASH_SHA256) {
            bool ok = true;
            assembly {
                mstore(0, value)
                for { let i := 0 } lt(i, times) { i := add(i, 1) } {
                    ok := and(ok, staticcall(gas(), 2, 0, 32, 0, 32))
                }
                result := mload(0)
            }
            if (!ok) revert InvalidPreimage();
        } else {
            revert UnknownHashFunction();
        }
    }

    // ----------------------------------------------------------------------------------------------------------
    // Internals
    // ----------------------------------------------------------------------------------------------------------

    function _existing(bytes32 channelId) private view returns (Channel storage ch) {
        ch = channels[channelId];
        if (ch.renter == address(0)) revert ChannelNotFound();
    }

    function _settleable(bytes32 channelId) private view returns (Channel storage ch) {
        ch = _existing(channelId);
        if (msg.sender != ch.provider) revert NotProvider();
        if (ch.closeRequestedAt != 0 && block.timestamp >= uint256(ch.closeRequestedAt) + challengePeriod) {
            revert ChallengeWindowOver();
        }
    }

    function _pay(bytes32 channelId, Channel storage ch, uint256 total, bool byTicks) private {
        if (total <= ch.settled) revert AmountNotIncreasing();
        if (total > ch.deposit) revert AmountExceedsDeposit();
        uint256 paid = total - ch.settled;
        ch.settled = uint128(total);
        emit ChannelSettled(channelId, total, paid, byTicks);
        _push(ch.token, ch.provider, paid);
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        if (signature.length != 65) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (uint256(s) > MAX_S || (v != 27 && v != 28)) revert InvalidSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    /// Take `amount` from the caller; returns what actually arrived (fee-on-transfer tokens deliver less).
    function _pull(address token, uint256 amount) private returns (uint256) {
        if (token == address(0)) {
            if (msg.value != amount) revert InvalidDeposit();
            return amount;
        }
        if (msg.value != 0) revert InvalidDeposit();
        uint256 before = IERC20Minimal(token).balanceOf(address(this));
        (bool ok, bytes memory data) =
            token.call(abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount)); // transferFrom
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
        return IERC20Minimal(token).balanceOf(address(this)) - before;
    }

    function _push(address token, address to, uint256 amount) private {
        if (amount == 0) return;
        bool ok;
        bytes memory data;
        if (token == address(0)) {
            (ok,) = to.call{value: amount}("");
        } else {
            (ok, data) = token.call(abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer
            if (ok && data.length != 0) ok = abi.decode(data, (bool));
        }
        if (!ok) revert TransferFailed();
    }
}
