const LONG_STORY =
  'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house. ' +
  'One sunny day, Tim saw a small dog under a tree. The dog was sad because it was lost. Tim wanted to help the dog find its home. ' +
  'He asked his mom, and she said they could look together. They walked past the pond, the school and the shop. ' +
  'At last they found a girl who was crying. She said, "That is my dog!" The girl was so happy. She gave Tim a big hug. ' +
  'From that day on, Tim and the girl played in the park every day with the dog and the red ball. They were best friends. ' +
  'The moral of the story is that helping others makes everyone happy.';

/** The prompts the stories260K parity tests run, short and long, ASCII quotes included. */
export const STORY_PROMPTS = [
  'Once upon a time',
  'The little cat',
  'Lily and Ben went to the park. They saw',
  'One day, a big bird',
  'Tom had a toy car. He',
  '"Can I play?" asked',
  'The sun was hot and the sky was blue',
  LONG_STORY,
];
