/**
 * @since 0.1.0
 */
export * as Account from "./Account.ts"
export * as Customer from "./Customer.ts"
export * as Order from "./Order.ts"
export * as Transfer from "./Transfer.ts"
export * as TransferWorkflow from "./TransferWorkflow.ts"
