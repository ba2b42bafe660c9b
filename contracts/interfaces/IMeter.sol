// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "../types/Ids.sol";
import {IMeteringTypes} from "./IMeteringTypes.sol";

/// @title Usage metering: billing rules per timeframe, activation decisions, leases, spending caps, invoice anchors.
/// @notice A provider publishes the rules of each billing period before it starts; from its start they are frozen.
/// Platform agents ask before they start a software instance; the contract decides at once from the customer's
/// on-chain counters and records the decision either way (a denial is an event, never a revert). Running time ends
/// at deactivation or at lease expiry. Customers choose which agents may bill them and cap what they commit per
/// timeframe. Invoices are computed off chain from the events and anchored here by hash.
///
/// Instance ids are namespaced by the agent that asked: `instanceId = bytes32(agent) << 96 | requestId`, where the
/// agent's `requestId` is `seat << 8 | generation`. Each agent owns its seats; a seat holds one instance at a time
/// and is reused once that instance has ended, with the next generation (1 to 255). So no other agent can take,
/// replay, renew or stop an agent's instance, a request id is decided once (a retry replays the first decision, a
/// superseded generation is refused), and a grant writes no new storage slot in the steady state.
///
/// v3 ("fair at the edges"): a revoke always takes effect, whatever the customer's restriction; a customer can stop
/// any instance billed to it; every lease is bounded by the rules' `maxLeaseSeconds`; a lease that ran to its
/// timeframe's end stays continuable for `CONTINUATION_GRACE_SECONDS` seconds, whoever calls `expireLeases`, and its
/// continuation is billed from the second its seat became free in the new timeframe (never over another lease's
/// seat-time); spending caps carry their currency; a new customer starts with the provider's default cap.
interface IMeter is IMeteringTypes {
    // ------------------------------------------------------------------ errors

    /// @dev A lease of 0 seconds was requested.
    error MeteringZeroLease(bytes32 instanceId);

    /// @dev `customer` is the zero address, or not a customer where one is required.
    error MeteringInvalidCustomer(address customer);

    /// @dev The caller of a customer's own function is not an enrolled (or suspended) customer.
    error MeteringNotCustomer(address caller);

    /// @dev A timeframe must satisfy `start < end`.
    error MeteringInvalidTimeframe(uint40 start, uint40 end);

    /// @dev A timeframe must start after the block that creates it.
    error MeteringTimeframeStartsInPast(uint40 start, uint256 currentTime);

    /// @dev Timeframes are created in order and do not overlap: `start` must be at or after the previous end.
    error MeteringTimeframeOverlap(uint40 start, uint40 previousEnd);

    /// @dev All 65,535 timeframe ids are taken.
    error MeteringTimeframeIdsExhausted();

    /// @dev A currency code must be 3 upper-case ASCII letters (ISO 4217), right-padded with zero bytes.
    error MeteringInvalidCurrency(bytes8 currency);

    /// @dev No timeframe has this id.
    error MeteringUnknownTimeframe(TimeframeId timeframe);

    /// @dev Rules of a timeframe are frozen from its start.
    error MeteringRulesFrozen(TimeframeId timeframe, uint40 startedAt);

    /// @dev `timeUnitSeconds` must be at least 1 and `maxConcurrent` at most `max`. (`mode` must be Hard or Soft:
    /// the ABI decoder refuses any other value.)
    error MeteringInvalidRules(uint24 timeUnitSeconds, uint16 maxConcurrent, uint16 max);

    /// @dev The request id was decided before for another customer or instance type: a replay must repeat the
    /// whole request.
    error MeteringRequestMismatch(bytes32 instanceId, address recordedCustomer, InstanceType recordedType);

    /// @dev The request id was granted before for another lease length: a replay must repeat the whole request.
    /// (Detected through the record's 5-bit lease tag: 31 changed lengths in 32.)
    error MeteringReplayLeaseMismatch(bytes32 instanceId, uint32 leaseSeconds);

    /// @dev A spending cap in `capCurrency` was set while the timeframe it would bound is priced in
    /// `timeframeCurrency`.
    error MeteringCapCurrencyMismatch(bytes8 capCurrency, bytes8 timeframeCurrency);

    /// @dev Only the customer an instance is billed to may stop it with {stopInstance}.
    error MeteringNotInstanceCustomer(bytes32 instanceId, address caller);

    /// @dev The request's generation is not the seat's current one (a replay) nor the next (a new request):
    /// it was superseded, or it skips generations, or the seat is exhausted (generation 255 used).
    error MeteringUnexpectedGeneration(bytes32 instanceId, uint8 currentGeneration);

    /// @dev The seat still holds a lease that has not ended.
    error MeteringSeatBusy(bytes32 occupant, uint40 leaseEnd);

    /// @dev Only the agent that holds an instance (the one that requested it) may renew or deactivate it.
    error MeteringNotInstanceHolder(bytes32 instanceId, address caller);

    /// @dev The instance is not open (unknown, closed or denied).
    error MeteringInstanceNotOpen(bytes32 instanceId, InstanceStatus status);

    /// @dev A batch holds more than `max` entries.
    error MeteringBatchTooLarge(uint256 size, uint256 max);

    /// @dev An invoice can be anchored only once its timeframe has ended.
    error MeteringTimeframeNotEnded(TimeframeId timeframe, uint40 end);

    /// @dev An invoice is anchored once per (customer, timeframe); `correctInvoice` supersedes it visibly.
    error MeteringInvoiceAlreadyAnchored(address customer, TimeframeId timeframe, bytes32 invoiceHash);

    /// @dev A zero hash would read as "not anchored".
    error MeteringZeroInvoiceHash();

    /// @dev Only an anchored invoice can be corrected.
    error MeteringInvoiceNotAnchored(address customer, TimeframeId timeframe);

    // ------------------------------------------------------------------ events

    /// @notice A billing period was created.
    event TimeframeCreated(TimeframeId indexed timeframe, uint40 start, uint40 end, bytes8 currency);

    /// @notice Rules were set (or replaced, before the timeframe started) for an instance type.
    /// @param rulesHash `keccak256(abi.encode(timeframe, instanceType, rules))`.
    event RulesSet(
        TimeframeId indexed timeframe, InstanceType indexed instanceType, bytes32 indexed rulesHash, Rules rules
    );

    /// @notice A customer was enrolled (or reinstated after a suspension).
    event CustomerEnrolled(address indexed customer);

    /// @notice A customer was suspended: its requests and renewals are denied until it is enrolled again.
    event CustomerSuspended(address indexed customer);

    /// @notice A customer approved an agent to bill it (and thereby accepts only the agents it approved).
    event AgentApproved(address indexed customer, address indexed agent);

    /// @notice A customer revoked an agent: from this block it may no longer activate, renew or continue for it,
    /// whatever the customer's restriction. Its open leases end at their lease end (at most the rules'
    /// `maxLeaseSeconds` after its last renewal) unless the customer stops them ({InstanceStoppedByCustomer}).
    event AgentRevoked(address indexed customer, address indexed agent);

    /// @notice A customer chose whether only its approved agents (`true`) or every provider agent may bill it.
    event AgentRestrictionSet(address indexed customer, bool restricted);

    /// @notice A customer's cap was set (by the customer, or the provider's default at its enrollment): the most it
    /// commits per timeframe, in minor units of `currency` (0: no cap).
    event SpendingCapSet(address indexed customer, uint64 cap, bytes8 currency);

    /// @notice The provider set the cap every customer enrolled from now on starts with (0: none).
    event DefaultCustomerCapSet(uint64 cap, bytes8 currency);

    /// @notice An activation was granted: the instance may run until `leaseEnd` unless renewed.
    /// @param overage True when granted beyond a soft limit.
    event ActivationGranted(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 startedAt,
        uint40 leaseEnd,
        bool overage
    );

    /// @notice An activation was denied, and recorded: a retry of the same request id replays this denial.
    event ActivationDenied(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        DenialReason reason
    );

    /// @notice A request id was submitted again; its first decision stands and nothing was counted.
    event ActivationReplayed(
        bytes32 indexed instanceId, address indexed customer, InstanceStatus status, DenialReason reason
    );

    /// @notice A lease that ran to the end of its timeframe continues in the next one under its rules, billed from
    /// `startedAt`: the timeframe's start, or the second the seat it takes became free when another lease held it
    /// after that start (so billed time never overlaps another lease's seat-time). The instance id stays the same.
    event LeaseContinued(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 startedAt,
        uint40 leaseEnd,
        bool overage
    );

    /// @notice A lease was extended to `leaseEnd`.
    event LeaseRenewed(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 leaseEnd
    );

    /// @notice A renewal (or a continuation into the next timeframe) was denied; the lease ends as it was.
    event LeaseRenewalDenied(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        DenialReason reason
    );

    /// @notice The agent stopped an instance; billing stopped at `stoppedAt`.
    event InstanceDeactivated(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 stoppedAt
    );

    /// @notice The provider stopped an instance its agent could not (e.g. a dead agent); billing stopped at
    /// `stoppedAt`.
    event InstanceClosedByProvider(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 stoppedAt,
        address operator
    );

    /// @notice The customer stopped an instance billed to it (e.g. of an agent it revoked); billing stopped at
    /// `stoppedAt`.
    event InstanceStoppedByCustomer(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 stoppedAt
    );

    /// @notice An expired lease was closed; billing had stopped at `leaseEnd`.
    event LeaseExpired(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 leaseEnd
    );

    /// @notice The hash of a customer's final invoice for a timeframe was anchored.
    event InvoiceAnchored(
        address indexed customer, TimeframeId indexed timeframe, bytes32 indexed invoiceHash, uint256 total
    );

    /// @notice An anchored invoice was superseded by a corrected one.
    event InvoiceCorrected(
        address indexed customer,
        TimeframeId indexed timeframe,
        bytes32 indexed invoiceHash,
        bytes32 previousHash,
        uint256 total,
        uint32 revision
    );

    // ------------------------------------------------------------------ provider

    /// @notice Creates the next billing period `[start, end)`, priced in `currency`.
    /// @dev Requires `RULES_MANAGER_ROLE`, `block.timestamp < start < end`, `start` at or after the previous
    /// timeframe's end, and a valid currency code. Emits {TimeframeCreated}.
    function createTimeframe(uint40 start, uint40 end, bytes8 currency) external returns (TimeframeId timeframe);

    /// @notice Sets or replaces the rules of `instanceType` in a timeframe that has not started.
    /// @dev Requires `RULES_MANAGER_ROLE`, `timeUnitSeconds >= 1` and `maxConcurrent <= MAX_CONCURRENT`.
    /// Emits {RulesSet}.
    function setRules(TimeframeId timeframe, InstanceType instanceType, Rules calldata rules)
        external
        returns (bytes32 rulesHash);

    /// @notice Enrolls a customer, or reinstates a suspended one. A new customer starts with the default cap.
    /// @dev Requires `RULES_MANAGER_ROLE`. Emits {CustomerEnrolled} unless already enrolled, and {SpendingCapSet}
    /// when a new customer gets a non-zero default cap.
    function enrollCustomer(address customer) external;

    /// @notice Suspends a customer: its activations and renewals are denied (and recorded) until reinstated.
    /// @dev Requires `RULES_MANAGER_ROLE`. Emits {CustomerSuspended} unless already suspended.
    function suspendCustomer(address customer) external;

    /// @notice Stops an open instance on the provider's authority, for when its agent cannot (it died, or its key
    /// was lost). Billing stops now, or at the lease end if that has passed.
    /// @dev Requires `RULES_MANAGER_ROLE`. Emits {InstanceClosedByProvider}, or {LeaseExpired} when already expired.
    function closeInstance(bytes32 instanceId) external;

    /// @notice Sets the spending cap that customers enrolled from now on start with, in minor units of `currency`
    /// (0: none). It protects a passive customer, that never sets a cap nor restricts its agents, from an agent
    /// key that leaks: that key bills it at most this much per timeframe. The customer may change it.
    /// @dev Requires `RULES_MANAGER_ROLE` and a valid currency code. Emits {DefaultCustomerCapSet}.
    function setDefaultCustomerCap(uint64 cap, bytes8 currency) external;

    /// @notice Anchors the hash of a customer's final invoice for an ended timeframe.
    /// @dev Requires `RULES_MANAGER_ROLE`, a non-zero hash, an enrolled or suspended customer, an ended timeframe
    /// and no earlier anchor. Emits {InvoiceAnchored}.
    function anchorInvoice(address customer, TimeframeId timeframe, bytes32 invoiceHash, uint256 total) external;

    /// @notice Supersedes an anchored invoice with a corrected one; the previous hash stays in the event.
    /// @dev Requires `RULES_MANAGER_ROLE`, a non-zero hash and an existing anchor. Emits {InvoiceCorrected}.
    function correctInvoice(address customer, TimeframeId timeframe, bytes32 invoiceHash, uint256 total) external;

    // ------------------------------------------------------------------ customers (in their own transactions)

    /// @notice Approves `agent` to activate and renew for the calling customer, and restricts the customer to the
    /// agents it approved. A customer that approved no agent accepts every holder of `AGENT_ROLE`.
    /// @dev Requires the caller to be a customer. Emits {AgentApproved} (and {AgentRestrictionSet} when the
    /// restriction turns on).
    function approveAgent(address agent) external;

    /// @notice Revokes an agent: from this block it may no longer activate, renew or continue for the calling
    /// customer, whether or not the customer restricted itself (a later {approveAgent} lifts it). Its open leases
    /// run at most to their lease end, which the rules' `maxLeaseSeconds` bounds; {stopInstance} stops one now.
    /// @dev Requires the caller to be a customer. Emits {AgentRevoked}.
    function revokeAgent(address agent) external;

    /// @notice Chooses whether only approved agents (`true`) or every provider agent (`false`) may bill the caller.
    /// @dev Requires the caller to be a customer. Emits {AgentRestrictionSet}.
    function setAgentRestriction(bool restricted) external;

    /// @notice Sets the most the calling customer commits per timeframe, in minor units of `currency`; 0 removes
    /// the cap. It applies from the next decision, also in the running timeframe. Refused when `currency` is not
    /// the currency of the timeframe it would bound now (the active one, or the next to start). A cap whose
    /// currency is not a later timeframe's denies its decisions with `CapCurrencyMismatch` until the customer
    /// sets one in that currency.
    /// @dev The cap counts committed amounts: each activation's fee and each lease's seconds in full when granted
    /// or renewed (beyond the included quotas), given back when the instance is deactivated early. A request or
    /// renewal that would commit beyond the cap is denied with `SpendingCapReached`. So the final invoice of a
    /// timeframe never exceeds the cap. Whatever the cap, spending stops at 2^96 - 1 micro-units (a checked bound,
    /// denied as `SpendingCapReached`). Requires the caller to be a customer and a valid currency code.
    /// Emits {SpendingCapSet}.
    function setSpendingCap(uint64 cap, bytes8 currency) external;

    /// @notice Stops an open instance billed to the caller, whichever agent holds it (e.g. one it revoked): billing
    /// stops now, or at the lease end if that has passed.
    /// @dev Requires the caller to be the instance's customer. Emits {InstanceStoppedByCustomer} (or {LeaseExpired}).
    function stopInstance(bytes32 instanceId) external;

    // ------------------------------------------------------------------ agents

    /// @notice Asks to start an instance of `instanceType` for `customer`, leased for `leaseSeconds` (capped at the
    /// rules' `maxLeaseSeconds` and at the end of the active timeframe). The decision is recorded either way and never reverts for a business reason.
    /// @dev Requires `AGENT_ROLE`. `requestId` is `seat << 8 | generation`: the next generation of one of the
    /// caller's seats whose lease has ended (a new request), or the current one (a replay, which must repeat the
    /// customer, type and lease length: {MeteringRequestMismatch}, {MeteringReplayLeaseMismatch}). The instance id is
    /// `bytes32(uint256(uint160(msg.sender)) << 96 | requestId)`.
    /// Denied when: no timeframe is active, the type has no rules, the customer is not enrolled or suspended, the
    /// customer restricted itself to approved agents and did not approve the caller, or revoked it, a hard concurrency or
    /// activation limit is reached, or the spending cap would be crossed. An expired lease never counts against the
    /// concurrency limit, closed or not. Emits {ActivationGranted}, {ActivationDenied} or {ActivationReplayed}
    /// (and {LeaseExpired} when the seat's previous lease had expired unclosed).
    function requestActivation(address customer, InstanceType instanceType, uint64 requestId, uint32 leaseSeconds)
        external
        returns (Decision memory decision);

    /// @notice Decides up to `MAX_BATCH` activation requests in one transaction, in order, each as
    /// {requestActivation} would.
    function requestActivations(ActivationRequest[] calldata requests)
        external
        returns (Decision[] memory decisions);

    /// @notice Extends the caller's open instance's lease to `leaseSeconds` from now, capped at the rules'
    /// `maxLeaseSeconds` and its timeframe's end. If the lease ran to the end of its timeframe, the instance
    /// continues in the next timeframe (when that starts where the other ended) as a fresh decision under its
    /// rules, if renewed within `CONTINUATION_GRACE_SECONDS` seconds of the boundary: billed from the new timeframe's start,
    /// or from when the seat it takes became free if another lease held it since (see {LeaseContinued}).
    /// @dev Only the agent that holds the instance. A renewal is denied (and recorded) when the customer is
    /// suspended, restricted or revoked the caller, or would cross its cap; a lease that expired before its
    /// timeframe's end, or a continuation after the grace, is closed and denied `LeaseExpired`.
    /// Emits {LeaseRenewed}, {LeaseContinued} or {LeaseRenewalDenied}.
    /// @return decision Granted or why not.
    /// @return leaseEnd The new lease end (0 when denied).
    function renewLease(bytes32 instanceId, uint32 leaseSeconds)
        external
        returns (Decision memory decision, uint40 leaseEnd);

    /// @notice Stops the caller's open instance: billing stops now (or at the lease end if that has passed).
    /// @dev Only the agent that holds the instance. Emits {InstanceDeactivated} (or {LeaseExpired}).
    function deactivate(bytes32 instanceId) external;

    /// @notice Closes the given leases that have expired; anyone may call it. Others are skipped, and so is a
    /// lease that ran to its timeframe's end during its `CONTINUATION_GRACE_SECONDS`: its holder may still continue it.
    /// @dev Emits {LeaseExpired} for each closed lease. At most `MAX_BATCH` ids.
    /// @return closed How many were closed.
    function expireLeases(bytes32[] calldata instanceIds) external returns (uint256 closed);

    // ------------------------------------------------------------------ views

    /// @notice The most entries in one batch.
    function MAX_BATCH() external view returns (uint256);

    /// @notice How long after its timeframe's end a lease that ran to that end may still be continued.
    function CONTINUATION_GRACE_SECONDS() external view returns (uint40);

    /// @notice The largest `maxConcurrent` rules may set.
    function MAX_CONCURRENT() external view returns (uint16);

    /// @notice Micro-units per minor unit: prices are in millionths of the currency's minor unit.
    function PRICE_SCALE() external view returns (uint256);

    /// @notice The role that manages timeframes, rules, customers and invoice anchors.
    function RULES_MANAGER_ROLE() external view returns (bytes32);

    /// @notice The role of platform agents.
    function AGENT_ROLE() external view returns (bytes32);

    /// @notice How many timeframes exist (ids run from 1 to this).
    function timeframeCount() external view returns (uint256);

    /// @notice The timeframe `id`; reverts {MeteringUnknownTimeframe} when there is none.
    function timeframe(TimeframeId id) external view returns (Timeframe memory);

    /// @notice The timeframe that contains the current block's time, or 0.
    function activeTimeframe() external view returns (TimeframeId);

    /// @notice The rules of `instanceType` in a timeframe, and whether any were set.
    function rules(TimeframeId timeframe, InstanceType instanceType)
        external
        view
        returns (Rules memory rules_, bool configured);

    /// @notice `keccak256(abi.encode(timeframe, instanceType, rules))`, or 0 when no rules were set.
    function rulesHash(TimeframeId timeframe, InstanceType instanceType) external view returns (bytes32);

    /// @notice Whether `customer` is enrolled, suspended or unknown.
    function customerStatus(address customer) external view returns (CustomerStatus);

    /// @notice A customer's status, agent restriction, cap and what it committed in its latest timeframe.
    function customerAccount(address customer) external view returns (CustomerAccount memory);

    /// @notice What `customer` committed in `timeframe`, in micro-units (0 for any timeframe but its latest).
    function spent(address customer, TimeframeId timeframe) external view returns (uint256);

    /// @notice Whether `customer` approved `agent` (it bills only if the customer is restricted to approved agents
    /// or accepts every agent, and the agent holds `AGENT_ROLE`).
    function agentApproved(address customer, address agent) external view returns (bool);

    /// @notice Whether `customer` revoked `agent` (and did not approve it again since).
    function agentRevoked(address customer, address agent) external view returns (bool);

    /// @notice The cap new customers start with, and its currency.
    function defaultCustomerCap() external view returns (uint64 cap, bytes8 currency);

    /// @notice Whether `agent` may activate for `customer` now: enrolled, the agent holds `AGENT_ROLE`, was not
    /// revoked, and is approved if the customer restricted itself.
    function mayBill(address customer, address agent) external view returns (bool);

    /// @notice The on-chain counters of a customer for a timeframe and instance type.
    function usage(address customer, TimeframeId timeframe, InstanceType instanceType)
        external
        view
        returns (Usage memory);

    /// @notice The record of an instance id (all zero with status `Unknown` if its seat moved to another
    /// generation, or it never existed: its history is in the events).
    function instance(bytes32 instanceId) external view returns (Instance memory);

    /// @notice The current generation of an agent's seat, and its instance's status and lease end: what an agent
    /// reads to pick its next request id.
    function seat(address agent, uint56 seatIndex)
        external
        view
        returns (uint8 generation, InstanceStatus status, uint40 leaseEnd);

    /// @notice The instance id of `agent`'s request `requestId`.
    function instanceIdOf(address agent, uint64 requestId) external pure returns (bytes32);

    /// @notice The anchored invoice of (customer, timeframe), zero when none.
    function invoiceAnchor(address customer, TimeframeId timeframe) external view returns (InvoiceAnchor memory);
}
