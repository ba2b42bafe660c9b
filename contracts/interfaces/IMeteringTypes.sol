// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "../types/Ids.sol";

/// @title Value types shared by the metering contract, its libraries and its clients.
interface IMeteringTypes {
    /// @dev What happens when a request would exceed `maxConcurrent` or `maxActivations`.
    /// `Hard` denies it; `Soft` grants it and marks the grant as overage.
    enum LimitMode {
        Hard,
        Soft
    }

    /// @dev Why a request was denied. `None` means granted. Codes are stable: indexers and invoices rely on them.
    /// `AgentNotApproved` also covers an agent the customer revoked (whatever its restriction).
    /// `CapCurrencyMismatch`: the customer's cap is in another currency than the timeframe's, so it cannot bound
    /// what the timeframe commits; nothing is granted until the customer sets a cap in that currency (or none).
    /// `DepositExhausted` is a prepaid customer's `SpendingCapReached`: its deposit in the settlement contract does
    /// not cover the request.
    enum DenialReason {
        None,
        NoActiveTimeframe,
        NoRulesForType,
        CustomerNotEnrolled,
        CustomerSuspended,
        ConcurrencyLimitReached,
        ActivationQuotaReached,
        LeaseExpired,
        AgentNotApproved,
        SpendingCapReached,
        CapCurrencyMismatch,
        DepositExhausted
    }

    /// @dev Lifecycle of an instance id: unknown, granted and running (`Open`), granted and stopped (`Closed`),
    /// `Denied`.
    enum InstanceStatus {
        Unknown,
        Open,
        Closed,
        Denied
    }

    enum CustomerStatus {
        None,
        Enrolled,
        Suspended
    }

    /// @dev A billing period `[start, end)` in block-timestamp seconds, priced in `currency`
    /// (an upper-case ISO 4217 code, right-padded with zero bytes, e.g. "EUR").
    struct Timeframe {
        uint40 start;
        uint40 end;
        bytes8 currency;
    }

    /// @dev Billing rules of one instance type in one timeframe.
    /// Prices are in *micro-units*: millionths of the minor unit of the timeframe's currency (1 EUR = 100 cents =
    /// 100,000,000 micro-units), so 0.0004 USD per activation is 40,000 and 0.12 EUR per hour is 12,000,000 per
    /// `timeUnitSeconds` = 3600. Running time costs `pricePerTimeUnit / timeUnitSeconds` per second, exactly.
    /// A limit of 0 means "no limit"; `maxConcurrent` is at most `MAX_CONCURRENT`.
    /// A continuation (a lease carried over from the previous timeframe) is not an activation: it costs
    /// `pricePerContinuation` (usually 0) and never counts against `maxActivations` or the included activations.
    /// `maxLeaseSeconds` bounds every lease granted, renewed or continued (0: bounded by the timeframe's end only):
    /// it is how long an agent's instance may run past the agent's last renewal, so past a revoke too.
    struct Rules {
        uint48 pricePerActivation;
        uint48 pricePerContinuation;
        uint48 pricePerTimeUnit;
        uint24 timeUnitSeconds;
        uint32 includedActivations;
        uint32 includedSeconds;
        uint16 maxConcurrent;
        uint32 maxActivations;
        LimitMode mode;
        uint32 maxLeaseSeconds;
    }

    /// @dev Usage of one customer, for one instance type, in one timeframe: what the next decision reads.
    /// `leasedSeconds` counts closed intervals plus every open lease up to its current expiry, so once the
    /// timeframe has ended it equals the seconds billed, whether or not anyone closed the expired leases.
    /// `running` counts the seats held by leases that have not ended (types with a concurrency limit only): an
    /// expired lease frees its seat at once, closed or not.
    struct Usage {
        uint32 activations;
        uint32 overageActivations;
        uint64 leasedSeconds;
        uint16 running;
    }

    /// @dev The record of one instance id. `leaseEnd` is the lease expiry while open, and the second billing
    /// stopped once closed. `seat` is the concurrency seat it holds (`NO_SEAT` when it holds none).
    struct Instance {
        address customer;
        uint40 leaseEnd;
        TimeframeId timeframe;
        InstanceType instanceType;
        InstanceStatus status;
        DenialReason reason;
        uint8 seat;
    }

    /// @dev What a customer chose and what it has committed in its current timeframe.
    /// `spent` is in micro-units of that timeframe's currency: activation fees and every leased second (the whole
    /// lease, from the grant or renewal), beyond the included quotas; a deactivation gives back what was not run.
    /// `spendingCap` is in minor units of `capCurrency`; `revokedAny` is set once the customer revoked an agent.
    struct CustomerAccount {
        CustomerStatus status;
        bool restricted;
        uint64 spendingCap;
        TimeframeId spentTimeframe;
        uint96 spent;
        bytes8 capCurrency;
        bool revokedAny;
    }

    /// @dev One activation request in a batch. See {IMeter-requestActivation}.
    struct ActivationRequest {
        address customer;
        InstanceType instanceType;
        uint64 requestId;
        uint32 leaseSeconds;
    }

    /// @dev The outcome of one activation request.
    struct Decision {
        bool granted;
        DenialReason reason;
    }

    /// @dev The hash of an invoice anchored for (customer, timeframe), with its total and how often it was corrected.
    struct InvoiceAnchor {
        bytes32 invoiceHash;
        uint256 total;
        uint32 revision;
    }
}
