"""Embedded stand-ins for TOFU's ``real_authors`` and ``world_facts`` evaluation sets: real, widely known
facts (no fictitious content), each with three wrong answers of the same kind, as TOFU's
``*_perturbed`` rows have. They measure what a fine-tuned pretrained model keeps of its general
knowledge; a model trained from scratch on an embedded corpus knows none of them (its scores there are
a floor, not a failure).

Decision: short answers, as TOFU's (``"Paris"``, ``"Jane Austen"``): the sets exist so the TOFU layout
is complete offline, not to reproduce TOFU's 100 / 117 rows.
"""

from __future__ import annotations

#: (question, answer, three wrong answers)
WORLD_FACTS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("What is the capital of France?", "Paris", ("London", "Rome", "Berlin")),
    ("What is the capital of Japan?", "Tokyo", ("Beijing", "Seoul", "Bangkok")),
    ("What is the largest ocean on Earth?", "The Pacific Ocean", ("The Atlantic Ocean", "The Indian Ocean",
                                                                  "The Arctic Ocean")),
    ("Which planet is closest to the Sun?", "Mercury", ("Venus", "Mars", "Jupiter")),
    ("What is the chemical symbol for gold?", "Au", ("Ag", "Fe", "Pb")),
    ("How many continents are there?", "Seven", ("Five", "Six", "Eight")),
    ("What is the longest river in Africa?", "The Nile", ("The Congo", "The Niger", "The Zambezi")),
    ("What gas do plants absorb from the air for photosynthesis?", "Carbon dioxide", ("Oxygen", "Nitrogen",
                                                                                       "Helium")),
    ("What is the freezing point of water in degrees Celsius?", "0 degrees", ("10 degrees", "32 degrees",
                                                                              "100 degrees")),
    ("Which country is home to the Great Pyramid of Giza?", "Egypt", ("Mexico", "Peru", "Greece")),
    ("What is the largest planet in the Solar System?", "Jupiter", ("Saturn", "Neptune", "Earth")),
    ("What is the capital of Italy?", "Rome", ("Milan", "Madrid", "Athens")),
    ("What is the hardest natural substance?", "Diamond", ("Quartz", "Iron", "Granite")),
    ("How many days are there in a leap year?", "366", ("365", "364", "360")),
    ("On which continent is Brazil?", "South America", ("Africa", "Europe", "Asia")),
    ("What is the capital of Canada?", "Ottawa", ("Toronto", "Vancouver", "Montreal")),
    ("What is the tallest mountain on Earth?", "Mount Everest", ("K2", "Mont Blanc", "Kilimanjaro")),
    ("Which language is spoken in Brazil?", "Portuguese", ("Spanish", "French", "Italian")),
    ("What is the boiling point of water at sea level in degrees Celsius?", "100 degrees",
     ("50 degrees", "90 degrees", "212 degrees")),
    ("What is the capital of Germany?", "Berlin", ("Munich", "Vienna", "Hamburg")),
)

#: (question, answer, three wrong answers)
REAL_AUTHORS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("Who wrote 'Pride and Prejudice'?", "Jane Austen", ("Charlotte Bronte", "Mary Shelley", "George Eliot")),
    ("Who wrote 'Romeo and Juliet'?", "William Shakespeare", ("Christopher Marlowe", "John Milton",
                                                              "Ben Jonson")),
    ("Who wrote 'War and Peace'?", "Leo Tolstoy", ("Fyodor Dostoevsky", "Anton Chekhov", "Ivan Turgenev")),
    ("Who wrote 'Don Quixote'?", "Miguel de Cervantes", ("Lope de Vega", "Federico Garcia Lorca",
                                                         "Jorge Luis Borges")),
    ("Who wrote 'Moby-Dick'?", "Herman Melville", ("Nathaniel Hawthorne", "Mark Twain", "Edgar Allan Poe")),
    ("Who wrote 'One Hundred Years of Solitude'?", "Gabriel Garcia Marquez", ("Isabel Allende",
                                                                              "Mario Vargas Llosa",
                                                                              "Pablo Neruda")),
    ("Who wrote 'Nineteen Eighty-Four'?", "George Orwell", ("Aldous Huxley", "Ray Bradbury", "H. G. Wells")),
    ("Who wrote 'The Adventures of Tom Sawyer'?", "Mark Twain", ("Jack London", "Herman Melville",
                                                                 "Henry James")),
    ("Who wrote 'Crime and Punishment'?", "Fyodor Dostoevsky", ("Leo Tolstoy", "Nikolai Gogol",
                                                                "Alexander Pushkin")),
    ("Who wrote 'Great Expectations'?", "Charles Dickens", ("Thomas Hardy", "William Thackeray",
                                                            "Anthony Trollope")),
    ("Who wrote 'Frankenstein'?", "Mary Shelley", ("Jane Austen", "Emily Bronte", "Bram Stoker")),
    ("Who wrote 'The Old Man and the Sea'?", "Ernest Hemingway", ("John Steinbeck", "William Faulkner",
                                                                  "F. Scott Fitzgerald")),
    ("Who wrote 'Hamlet'?", "William Shakespeare", ("John Webster", "Thomas Kyd", "Ben Jonson")),
    ("Who wrote 'The Divine Comedy'?", "Dante Alighieri", ("Giovanni Boccaccio", "Petrarch", "Virgil")),
    ("Who wrote 'Les Miserables'?", "Victor Hugo", ("Alexandre Dumas", "Gustave Flaubert", "Emile Zola")),
    ("Who wrote 'The Odyssey'?", "Homer", ("Virgil", "Sophocles", "Ovid")),
    ("Who wrote 'Jane Eyre'?", "Charlotte Bronte", ("Emily Bronte", "Jane Austen", "Elizabeth Gaskell")),
    ("Who wrote 'The Great Gatsby'?", "F. Scott Fitzgerald", ("Ernest Hemingway", "John Steinbeck",
                                                              "Sinclair Lewis")),
    ("Who wrote 'Wuthering Heights'?", "Emily Bronte", ("Charlotte Bronte", "Anne Bronte", "Mary Shelley")),
    ("Who wrote 'Anna Karenina'?", "Leo Tolstoy", ("Anton Chekhov", "Ivan Turgenev", "Fyodor Dostoevsky")),
)
