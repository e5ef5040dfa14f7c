// A Relay pagination fragment on Library: relay-compiler must accept it against schema.graphql
// (tests/e2e/test_clients.py compiles it). @refetchable needs Library to be a Node that
// Query.node can refetch; @connection needs liked to be a Relay cursor connection.
import { graphql } from "react-relay";

export const likedListFragment = graphql`
  fragment LikedList_library on Library
  @refetchable(queryName: "LikedListPaginationQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 20 }, cursor: { type: "String" }) {
    userId
    liked(first: $count, after: $cursor) @connection(key: "LikedList_liked") {
      totalCount
      edges {
        addedAt
        node {
          id
          title
        }
      }
    }
  }
`;
