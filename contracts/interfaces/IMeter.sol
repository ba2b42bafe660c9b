// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "../types/Ids.sol";
import {IMeteringTypes} from "./IMeteringTypes.sol";

/// @title Usage metering: frozen billing rules per timeframe, activation decisions against on-chain counters,
/// leases, and invoice anchors.
/// @notice A provider publishes the rules of each billing period (timeframe) before it starts; platform agents
/// ask before they start a software instance; the contract grants or denies at once against the customer's usage
/// counters and records the decision either way. Running time ends at deactivation or at lease expiry. Invoices
/// are computed off chain from the events below, and their hashes can be anchored here.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` (two-step transfer) grants `RULES_MANAGER_ROLE` and `AGENT_ROLE`.
/// A business denial never reverts: it is an {ActivationDenied} event, because a revert leaves no record.
interface IMeter is IMeteringTypes {
    // ------------------------------------------------------------------ errors

    /// @dev A request asked for a lease of zero seconds, which could never run.
    error MeteringZeroLease(bytes32 requestId);

    /// @dev `customer` can never be billed (the zero address).
    error MeteringInvalidCustomer(address customer);

    /// @dev A timeframe must end after it starts.
    error MeteringInvalidTimeframe(uint40 start, uint40 end);

    /// @dev A timeframe must start in the future, so that its rules can be set before usage begins.
    error MeteringTimeframeStartsInPast(uint40 start, uint256 currentTime);

    /// @dev Timeframes are created in order and never overlap: `start` is before the previous timeframe's end.
    error MeteringTimeframeOverlap(uint40 start, uint40 previousEnd);

    /// @dev All 65,535 timeframe ids are used.
    error MeteringTimeframeIdsExhausted();

    /// @dev No timeframe has this id.
    error MeteringUnknownTimeframe(TimeframeId timeframe);

    /// @dev The rules of `timeframe` are frozen since it started at `startedAt`.
    error MeteringRulesFrozen(TimeframeId timeframe, uint40 startedAt);

    /// @dev `requestId` was already used for `recordedCustomer`; request ids are idempotency keys and must not be reused.
    error MeteringRequestIdConflict(bytes32 requestId, address recordedCustomer);

    /// @dev The instance is not running (`status` says what it is), so it cannot be renewed or deactivated.
    error MeteringInstanceNotOpen(bytes32 instanceId, InstanceStatus status);

    /// @dev A batch holds `size` entries; at most `max` fit in one transaction.
    error MeteringBatchTooLarge(uint256 size, uint256 max);

    /// @dev An invoice can be anchored only once its timeframe has ended at `end`.
    error MeteringTimeframeNotEnded(TimeframeId timeframe, uint40 end);

    /// @dev An invoice is already anchored for (customer, timeframe); use {correctInvoice} to supersede it.
    error MeteringInvoiceAlreadyAnchored(address customer, TimeframeId timeframe, bytes32 invoiceHash);

    /// @dev An invoice hash must not be zero: zero means "not anchored".
    error MeteringZeroInvoiceHash();

    /// @dev There is no anchored invoice to correct for (customer, timeframe).
    error MeteringInvoiceNotAnchored(address customer, TimeframeId timeframe);

    // ------------------------------------------------------------------ events

    /// @dev Emitted when the billing period `[start, end)` priced in `currency` is created.
    event TimeframeCreated(TimeframeId indexed timeframe, uint40 start, uint40 end, bytes8 currency);

    /// @dev Emitted when the rules of (`timeframe`, `instanceType`) are set or replaced, before the timeframe starts.
    /// `rulesHash` is `keccak256(abi.encode(timeframe, instanceType, rules))`.
    event RulesSet(
        TimeframeId indexed timeframe,
        InstanceType indexed instanceType,
        bytes32 indexed rulesHash,
        uint128 pricePerActivation,
        uint128 pricePerSecond,
        uint64 includedActivations,
        uint64 includedSeconds,
        uint32 maxConcurrent,
        uint32 maxActivations,
        LimitMode mode
    );

    /// @dev Emitted when `customer` is enrolled, or reinstated after a suspension.
    event CustomerEnrolled(address indexed customer);

    /// @dev Emitted when `customer` is suspended: new activations and renewals are denied.
    event CustomerSuspended(address indexed customer);

    /// @dev Emitted when an activation is granted. `instanceId` is the agent's request id. The instance runs from
    /// `startedAt` until `leaseEnd` unless renewed or deactivated. `overage` marks a grant beyond a soft limit.
    event ActivationGranted(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 startedAt,
        uint40 leaseEnd,
        bool overage
    );

    /// @dev Emitted when an activation request is denied, with the reason. `timeframe` is 0 when none was active.
    event ActivationDenied(
        bytes32 indexed requestId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        DenialReason reason
    );

    /// @dev Emitted when a request id that was already decided is submitted again: nothing is counted, the first
    /// decision stands (`status` is the request's current status, `reason` its denial reason if any).
    event ActivationReplayed(
        bytes32 indexed requestId, address indexed customer, InstanceStatus status, DenialReason reason
    );

    /// @dev Emitted when a running instance's lease is extended to `leaseEnd`.
    event LeaseRenewed(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 leaseEnd
    );

    /// @dev Emitted when a renewal is refused; the lease keeps its expiry (or has already ended).
    event LeaseRenewalDenied(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        DenialReason reason
    );

    /// @dev Emitted when an agent stops a running instance at `stoppedAt`, before its lease ran out.
    event InstanceDeactivated(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 stoppedAt
    );

    /// @dev Emitted when an instance whose lease ran out is closed; billing stopped at `leaseEnd`.
    event LeaseExpired(
        bytes32 indexed instanceId,
        address indexed customer,
        InstanceType indexed instanceType,
        TimeframeId timeframe,
        uint40 leaseEnd
    );

    /// @dev Emitted when the hash and total of `customer`'s invoice for `timeframe` are anchored.
    event InvoiceAnchored(
        address indexed customer, TimeframeId indexed timeframe, bytes32 indexed invoiceHash, uint256 total
    );

    /// @dev Emitted when an anchored invoice is superseded; `previousHash` stays visible here.
    event InvoiceCorrected(
        address indexed customer,
        TimeframeId indexed timeframe,
        bytes32 indexed invoiceHash,
        bytes32 previousHash,
        uint256 total,
        uint32 revision
    );

    // ------------------------------------------------------------------ provider

    /// @notice Creates the billing period `[start, end)`, priced in `currency`.
    /// @dev Emits {TimeframeCreated}.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `start < end`, `start` is in the future, and `start` is not before the previous timeframe's end.
    /// @return timeframe The new timeframe's id (ids count up from 1).
    function createTimeframe(uint40 start, uint40 end, bytes8 currency) external returns (TimeframeId timeframe);

    /// @notice Sets or replaces the rules of `instanceType` in `timeframe`.
    /// @dev Emits {RulesSet} with every field and the rules hash.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `timeframe` exists and has not started (rules are frozen from the timeframe's start).
    /// @return rulesHash `keccak256(abi.encode(timeframe, instanceType, rules))`.
    function setRules(TimeframeId timeframe, InstanceType instanceType, Rules calldata rules)
        external
        returns (bytes32 rulesHash);

    /// @notice Enrolls `customer`, or reinstates a suspended one. Does nothing if already enrolled.
    /// @dev Emits {CustomerEnrolled} when the status changes.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `customer` is not the zero address.
    function enrollCustomer(address customer) external;

    /// @notice Suspends `customer`: their new activations and renewals are denied; running leases run out.
    /// @dev Emits {CustomerSuspended} when the status changes.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `customer` is enrolled or already suspended.
    function suspendCustomer(address customer) external;

    /// @notice Anchors the keccak-256 hash and total of `customer`'s invoice for `timeframe`.
    /// @dev Emits {InvoiceAnchored}.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `timeframe` has ended;
    /// - `invoiceHash` is not zero;
    /// - no invoice is anchored yet for (customer, timeframe).
    function anchorInvoice(address customer, TimeframeId timeframe, bytes32 invoiceHash, uint256 total) external;

    /// @notice Supersedes the anchored invoice of (customer, timeframe); the old hash stays in the event log.
    /// @dev Emits {InvoiceCorrected}.
    ///
    /// Requirements:
    /// - the caller has `RULES_MANAGER_ROLE`;
    /// - `invoiceHash` is not zero;
    /// - an invoice is anchored for (customer, timeframe).
    function correctInvoice(address customer, TimeframeId timeframe, bytes32 invoiceHash, uint256 total) external;

    // ------------------------------------------------------------------ agents

    /// @notice Decides at once whether `customer` may start an instance of `instanceType`, against the rules of the
    /// active timeframe and the customer's usage counters, and records the decision either way.
    /// @dev Emits {ActivationGranted} or {ActivationDenied}; a `requestId` seen before emits {ActivationReplayed},
    /// counts nothing and returns the first decision. A grant's lease is capped at the timeframe's end.
    ///
    /// Requirements:
    /// - the caller has `AGENT_ROLE`;
    /// - `customer` is not the zero address and `leaseSeconds` is not zero;
    /// - a reused `requestId` belongs to the same customer.
    /// @param requestId The agent's idempotency key; it becomes the instance id of a grant.
    function requestActivation(address customer, InstanceType instanceType, bytes32 requestId, uint32 leaseSeconds)
        external
        returns (Decision memory decision);

    /// @notice Decides many activation requests in one transaction, in order: each one sees the counters as
    /// updated by the ones before it.
    /// @dev Emits one {ActivationGranted}, {ActivationDenied} or {ActivationReplayed} per request.
    ///
    /// Requirements: those of {requestActivation} for every entry, and at most {MAX_BATCH} entries.
    function requestActivations(ActivationRequest[] calldata requests)
        external
        returns (Decision[] memory decisions);

    /// @notice Extends a running instance's lease to `leaseSeconds` from now, capped at its timeframe's end.
    /// A lease that ran to its timeframe's end is continued by a fresh decision under the rules in force now, for the
    /// instance id {successorOf}(instanceId): the old instance is closed at the end of its timeframe.
    /// @dev Emits {LeaseRenewed}; or {LeaseRenewalDenied} (suspended customer, or lease already expired, which also
    /// emits {LeaseExpired}); or, for a continuation, {LeaseExpired} then {ActivationGranted} or {ActivationDenied}.
    ///
    /// Requirements:
    /// - the caller has `AGENT_ROLE`;
    /// - the instance is open and `leaseSeconds` is not zero.
    /// @return decision Whether the instance runs on.
    /// @return runningId The id it runs on as: `instanceId`, or its successor after a continuation.
    /// @return leaseEnd The lease expiry of `runningId` (0 when denied).
    function renewLease(bytes32 instanceId, uint32 leaseSeconds)
        external
        returns (Decision memory decision, bytes32 runningId, uint40 leaseEnd);

    /// @notice Stops a running instance now; the seconds used are `now - startedAt`.
    /// If its lease has already run out, it is closed as expired instead (billing stopped at the lease end).
    /// @dev Emits {InstanceDeactivated}, or {LeaseExpired} for a lease that ran out.
    ///
    /// Requirements:
    /// - the caller has `AGENT_ROLE`;
    /// - the instance is open.
    function deactivate(bytes32 instanceId) external;

    /// @notice Closes every listed instance whose lease has run out; anyone may call it. Others are skipped.
    /// Billing of each stops at its lease end, not when this is called.
    /// @dev Emits {LeaseExpired} for each instance closed.
    ///
    /// Requirements: at most {MAX_BATCH} ids.
    /// @return closed How many instances were closed.
    function expireLeases(bytes32[] calldata instanceIds) external returns (uint256 closed);

    // ------------------------------------------------------------------ views

    /// @notice The most entries {requestActivations} and {expireLeases} accept in one call.
    function MAX_BATCH() external view returns (uint256);

    /// @notice The role that creates timeframes, sets rules, manages customers and anchors invoices.
    function RULES_MANAGER_ROLE() external view returns (bytes32);

    /// @notice The role of platform agents, which activate, renew and deactivate instances.
    function AGENT_ROLE() external view returns (bytes32);

    /// @notice How many timeframes exist; their ids are 1..timeframeCount().
    function timeframeCount() external view returns (uint256);

    /// @notice The timeframe `id`. Reverts with {MeteringUnknownTimeframe} if it does not exist.
    function timeframe(TimeframeId id) external view returns (Timeframe memory);

    /// @notice The timeframe in force now, or 0 if none is.
    function activeTimeframe() external view returns (TimeframeId);

    /// @notice The rules of (`timeframe`, `instanceType`) and whether they were set.
    function rules(TimeframeId timeframe, InstanceType instanceType)
        external
        view
        returns (Rules memory rules_, bool configured);

    /// @notice `keccak256(abi.encode(timeframe, instanceType, rules))` of the rules as set (zero when not set).
    function rulesHash(TimeframeId timeframe, InstanceType instanceType) external view returns (bytes32);

    /// @notice Whether `customer` is enrolled, suspended, or unknown.
    function customerStatus(address customer) external view returns (CustomerStatus);

    /// @notice The usage counters of (`customer`, `timeframe`, `instanceType`).
    function usage(address customer, TimeframeId timeframe, InstanceType instanceType)
        external
        view
        returns (Usage memory);

    /// @notice The record of a request id: its customer, status, lease and denial reason.
    function instance(bytes32 instanceId) external view returns (Instance memory);

    /// @notice The instance id that continues `instanceId` into the next timeframe: `keccak256(abi.encode(instanceId))`.
    function successorOf(bytes32 instanceId) external pure returns (bytes32);

    /// @notice The invoice anchored for (`customer`, `timeframe`); a zero hash when none is.
    function invoiceAnchor(address customer, TimeframeId timeframe) external view returns (InvoiceAnchor memory);
}
