/** The money audit tests have always imported from here lives in src/pay/money-audit.ts (the swarm lab runs it too). */
export * from '../../src/pay/money-audit.js'
