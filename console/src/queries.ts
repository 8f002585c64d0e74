import { graphql } from './gql/index.js';

/** One page of the officer's queue: REFER decisions without a review, newest first. */
export const PendingQueue = graphql(`
  query PendingQueue($first: Int!, $after: String) {
    decisions(filter: { reviewState: PENDING }, first: $first, after: $after) {
      edges {
        node { id applicationRef probabilityOfDefault score decidedAt reasons { code } }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

/** Everything a reviewer reads before deciding, and the codes a decline may cite. */
export const DecisionDetail = graphql(`
  query DecisionDetail($id: ID!) {
    decision(id: $id) {
      id
      applicationRef
      outcome
      finalOutcome
      probabilityOfDefault
      score
      decidedAt
      modelVersion
      policyVersion
      reasons { code description source feature impact ruleId }
      policyHits { ruleId effect description }
      application {
        annualIncome monthlyDebt loanAmount loanTermMonths loanPurpose creditScore employmentYears homeOwnership
        openCreditLines delinquencies2y revolvingUtilization
      }
      review { outcome reasonCodes note reviewer reviewedAt }
    }
    reasonCodes { code description }
  }
`);

export const ReviewDecision = graphql(`
  mutation ReviewDecision($id: ID!, $outcome: ReviewOutcome!, $reasonCodes: [String!], $note: String) {
    reviewDecision(id: $id, outcome: $outcome, reasonCodes: $reasonCodes, note: $note) {
      decision { id finalOutcome }
      review { outcome reasonCodes note reviewer reviewedAt }
    }
  }
`);
