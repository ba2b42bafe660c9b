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
    enum DenialReason {
        None,
        NoActiveTimeframe,
        NoRulesForType,
        CustomerNotEnrolled,
        CustomerSuspended,
        ConcurrencyLimitReached,
        ActivationQuotaReached,
        LeaseExpired
    }

    /// @dev Lifecycle of a request id: unknown, granted and running (`Open`), granted and stopped (`Closed`), `Denied`.
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
    /// (ASCII code, right-padded with zero bytes, e.g. "EUR").
    struct Timeframe {
        uint40 start;
        uint40 end;
        bytes8 currency;
    }

    /// @dev Billing rules of one instance type in one timeframe. Prices are integer minor units of the
    /// timeframe's currency. A limit of 0 means "no limit".
    struct Rules {
        uint128 pricePerActivation;
        uint128 pricePerSecond;
        uint64 includedActivations;
        uint64 includedSeconds;
        uint32 maxConcurrent;
        uint32 maxActivations;
        LimitMode mode;
    }

    /// @dev Usage of one customer, for one instance type, in one timeframe: what the next decision reads.
    /// `leasedSeconds` counts closed intervals plus every open lease up to its current expiry, so once the
    /// timeframe has ended it equals the seconds billed, whether or not anyone closed the expired leases.
    /// `active` counts open instances, including expired leases nobody has closed yet.
    struct Usage {
        uint32 active;
        uint32 activations;
        uint32 overageActivations;
        uint64 leasedSeconds;
    }

    /// @dev The record of one request id (which is also the instance id of a grant). One storage slot.
    /// `leaseEnd` is the lease expiry while open, and the second billing stopped once closed.
    struct Instance {
        address customer;
        uint40 leaseEnd;
        TimeframeId timeframe;
        InstanceType instanceType;
        InstanceStatus status;
        DenialReason reason;
    }

    /// @dev One activation request in a batch.
    struct ActivationRequest {
        address customer;
        InstanceType instanceType;
        bytes32 requestId;
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
