// The Hardhat 2 node that `metering node --client hardhat` and the node matrix (tests/nodes/) start, through
// metering.node.LocalNode: `hardhat node --config tools/hardhat/hardhat.config.js`. It lives in a folder of its own
// so Hardhat never takes the repository (contracts/, Brownie's build/, forge's out/) for its project; it has no
// `solidity` entry, so nothing is compiled and no compiler is downloaded. The accounts come from the same public
// dev mnemonic as anvil's and Ganache's, so the dev keys `metering node` prints work on every local node.
const env = (name, fallback) => Number(process.env[name] || fallback);
const blockTime = env("METERING_HARDHAT_BLOCK_TIME", 0);

module.exports = {
  networks: {
    hardhat: {
      chainId: env("METERING_HARDHAT_CHAIN_ID", 31337),
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: env("METERING_HARDHAT_ACCOUNTS", 10),
      },
      // a block per transaction, or (METERING_HARDHAT_BLOCK_TIME seconds) a block every so often, as anvil's
      // --block-time does
      mining: blockTime > 0 ? { auto: false, interval: blockTime * 1000 } : { auto: true },
    },
  },
};
